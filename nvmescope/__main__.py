"""``python -m nvmescope``."""

from nvmescope.cli import main

main()
