"""`envrepro predict` is on a warm predict's critical path: it loads its own command, not every command's engines."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
from envrepro.cli import main
sys.argv = ["envrepro", "predict", "--help"]
try:
    main()
except SystemExit:
    pass
sys.stdout.write("\\n" + json.dumps(sorted(sys.modules)))
"""


def test_predict_does_not_import_the_other_commands():
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    help_text, modules = proc.stdout.rsplit("\n", 1)
    loaded = set(json.loads(modules))
    assert help_text.startswith("Usage: envrepro predict ")
    assert "envrepro.cli.run" in loaded
    others = {"envrepro.cli.audit", "envrepro.cli.bundle", "envrepro.cli.docker", "envrepro.cli.lock",
              "envrepro.cli.verify", "envrepro.cli.envs", "envrepro.cli.models"}
    assert loaded & others == set()
