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

# The bootstrap is loaded from its file, not imported: importing envrepro.inference would import the host
# package and its dependencies (yaml, pluggy, packaging) before the snapshot, hiding them from attribution.
_LAUNCH = ("import sys, json, importlib.util; spec = json.load(open(sys.argv[1], encoding='utf-8')); "
           "sys.path[:] = spec['sys_path']; "
           "boot = importlib.util.spec_from_file_location('envrepro_capture_bootstrap', spec['bootstrap']); "
           "module = importlib.util.module_from_spec(boot); boot.loader.exec_module(module); module.main(spec)")
_BOOTSTRAP = Path(__file__).with_name("_bootstrap.py")



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
    # module -> importlib.import_module calls that asked for it (importer, file, line)
    by_name: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)
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
        from ..errors import EnvreproError
        from ..launch import load_spec
        from ..model import ModelDir

        self._started = time.perf_counter()
        self._timeout = timeout
        self._setup_error: str | None = None
        try:  # the child gets the load spec: it need not import envrepro's host package to make it
            load = load_spec(ModelDir.open(model_dir))
        except EnvreproError as exc:
            self._setup_error = f"{type(exc).__name__}: {exc}"
            return
        self._tmp = tempfile.TemporaryDirectory(prefix="envrepro-capture-")
        spec_path = Path(self._tmp.name) / "spec.json"
        self._out = Path(self._tmp.name) / "out.json"
        spec = {"load_spec": load, "predict": predict, "output": str(self._out), "sys_path": _child_sys_path(),
                "bootstrap": str(_BOOTSTRAP)}
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        self._proc = subprocess.Popen([python or sys.executable, "-I", "-B", "-c", _LAUNCH, str(spec_path)],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, errors="replace")

    def wait(self) -> Capture:
        if self._setup_error is not None:
            return Capture(error=self._setup_error, failed_stage="setup")
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
    capture.by_name = {name: [(s[0], s[1], s[2]) for s in sites] for name, sites in (data.get("by_name") or {}).items()}
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
