"""Load the staged model in a clean subprocess and record what it imports (see ``_bootstrap``).

The child is ``python -I``: no user site, no PYTHON* variables, nothing the saving process imported. It gets
the saving process's ``sys.path`` explicitly, so models whose classes live in the user's own modules still
load, and the modules that came from outside ``code/`` show up as local (see ``code_coverage``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

_LAUNCH = ("import sys, json; spec = json.load(open(sys.argv[1], encoding='utf-8')); "
           "sys.path[:] = spec['sys_path']; "
           "from envrepro.inference._bootstrap import main; main(spec)")


@dataclass
class CapturedModule:
    name: str
    stage: str          # "load" or "predict"
    file: str | None
    # Import statements that imported it: (importer module, importer file, line); empty when only seen in
    # sys.modules (imported from C, by importlib.import_module, or by envrepro's loader for the model).
    sites: list[tuple[str, str, int]] = field(default_factory=list)


@dataclass
class Capture:
    modules: list[CapturedModule] = field(default_factory=list)
    model_class: tuple[str, str] | None = None   # (module, qualname) of the loaded model object
    # top-level module name -> the import statement that loaded it first (importer, file, line)
    first_sites: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    error: str | None = None                     # why load/predict failed, for the warning
    failed_stage: str | None = None
    seconds: float = 0.0
    output: dict | None = None  # the prediction on the input example: {"value": JSON} or {"error": why}


def _child_sys_path() -> list[str]:
    cwd = os.getcwd()
    return [os.path.abspath(p) if p else cwd for p in sys.path]


class RunningCapture:
    """A started capture: the parent reads the model's code and the installed metadata meanwhile."""

    def __init__(self, model_dir: Path, *, predict: bool, timeout: float, python: str | None = None):
        self._started = time.perf_counter()
        self._timeout = timeout
        self._tmp = tempfile.TemporaryDirectory(prefix="envrepro-capture-")
        spec_path = Path(self._tmp.name) / "spec.json"
        self._out = Path(self._tmp.name) / "out.json"
        spec = {"model_dir": str(model_dir.resolve()), "predict": predict, "output": str(self._out),
                "sys_path": _child_sys_path()}
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        self._proc = subprocess.Popen([python or sys.executable, "-I", "-B", "-c", _LAUNCH, str(spec_path)],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, errors="replace")

    def wait(self) -> Capture:
        try:
            remaining = max(0.0, self._timeout - (time.perf_counter() - self._started))
            try:
                stdout, stderr = self._proc.communicate(timeout=remaining)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.communicate()
                return Capture(error=f"timed out after {self._timeout:g}s", failed_stage="timeout",
                               seconds=time.perf_counter() - self._started)
            if not self._out.exists():
                tail = (stderr or stdout or "").strip().splitlines()[-5:]
                return Capture(error=f"the capture process exited with code {self._proc.returncode}: "
                                     f"{' | '.join(tail)}", failed_stage="process",
                               seconds=time.perf_counter() - self._started)
            data = json.loads(self._out.read_text(encoding="utf-8"))
        finally:
            self._tmp.cleanup()
        return _parse(data, time.perf_counter() - self._started)


def _parse(data: dict, seconds: float) -> Capture:
    capture = Capture(seconds=seconds)
    capture.modules = [CapturedModule(name, stage, file, [tuple(site) for site in sites])
                       for name, (stage, file, sites) in data["modules"].items()]
    capture.first_sites = {top: (site[0], site[1], site[2]) for top, site in (data.get("first") or {}).items()}
    if data.get("model_class"):
        capture.model_class = (data["model_class"][0], data["model_class"][1])
    capture.output = data.get("output")
    error = data.get("error")
    if error:
        capture.error = f"{error['type']}: {error['message']}"
        capture.failed_stage = error["stage"]
    return capture


def capture_imports(model_dir: Path, *, predict: bool, timeout: float, python: str | None = None) -> Capture:
    return RunningCapture(model_dir, predict=predict, timeout=timeout, python=python).wait()
