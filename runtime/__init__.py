"""envrepro's in-environment runtime: the code that runs *inside* a model's environment.

Installed as ``envrepro_runtime``. The host copies this package into ``$ENVREPRO_HOME/runtime/<hash>/`` and the
model's own python runs it from there (appended to ``sys.path``: nothing is installed into the environment,
and the model's own pins always win).

The contract, checked by ``tests/runtime/`` under every Python from 3.6 to 3.13 found on the machine:

- **Python 3.6 syntax and standard library only.** No dataclasses, no ``from __future__ import annotations``,
  no walrus or positional-only parameters, no ``typing.Protocol``/``TypeAlias``, no ``X | Y`` types, no
  ``subprocess.run(capture_output=...)``, no ``http.server.ThreadingHTTPServer``: each arrived after 3.6.
- **Tolerant of the data libraries it meets**: pandas 0.25 to 3.x and numpy 1.16 to 2.x, or neither.
- **Never imports the host package** (``envrepro``), nor pluggy, PyYAML, packaging or click. The host parses
  MLmodel, picks the flavor and hands the worker a JSON *load spec* (see :mod:`envrepro_runtime.loading`);
  what runs here is this package plus the chosen flavor's own loader module.

Host code imports these modules too (payload parsing, the in-process loader), so each rule has one
implementation.
"""

# Bumped when the load spec or the worker's command line changes shape.
PROTOCOL = 1
