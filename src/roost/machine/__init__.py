"""What roost keeps about a machine on this computer: its record (``record``), the state
database with locks and done steps (``state``, ``steps``), secrets (``vault``) and the
installers a machine offers (``tools``)."""
