"""Backups of an app's data: taken on the machine (``machine``, ``scripts``), kept in a store
(``store``: a directory; ``s3``; ``stores`` picks one from ``backup_to``). The verbs
(``roost backup``, ``backups``, ``restore``) are in :mod:`roost.lifecycle.backups`."""
