"""``python -m roost`` runs the CLI."""

from roost.cli import main

main()
