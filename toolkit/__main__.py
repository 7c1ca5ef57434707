"""Run the command-line interface: ``python -m toolkit``."""

from toolkit.cli import main

main()
