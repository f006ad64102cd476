"""``roost server``: an HTTP API (``/api/v1``) and a web dashboard over roost's library verbs.

A face like the CLI: every route is a few lines over a verb of :mod:`roost`; what it adds is
a login (a token, then a cookie), protection against cross-site requests, and a monitor that
probes machines in the background so that no request waits on a machine.
"""
