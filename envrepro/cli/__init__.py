"""The ``envrepro`` command line. Thin: it parses arguments, calls the Python API and prints the results.

One module per group of commands, wired into one click group by :mod:`.main`. The CLI imports the Python API
(and errors) only, never the engines behind it: ``tests/test_layers.py`` fails on an import against that order.
"""

from .main import cli, main

__all__ = ["cli", "main"]
