"""The verbs on machines: up, stop, start, down (``machines``, with the plan of ``up`` in
``plan``), status and logs (``info``), exec, sync and download (``files``), sharing, backups,
services, cost and clean-up (``housekeeping``). Each composes features; none is composed by one."""
