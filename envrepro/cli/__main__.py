"""``python -m envrepro.cli``."""

from .main import main

main()
