"""``python -m roost.cli`` runs the CLI."""

from roost.cli import main

main()
