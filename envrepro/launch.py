"""Start envrepro's in-environment runtime (``envrepro_runtime``) with a model environment's python.

Three things live here, all host-side:

- the **runtime directory** (``$ENVREPRO_HOME/runtime/<hash>/``): the runtime package, the loader module of
  every registered flavor, and a stub ``envrepro`` package holding only ``PythonModel`` (pickled models refer
  to it by name). Built once per content, atomically, world-readable (a container's server user reads it);
- the **load spec**: MLmodel parsed here, the flavor chosen here (see :func:`envrepro.load.choose_loader`), so
  the worker needs no YAML parser and no plugin manager;
- the **worker command**, and turning a failed worker's report into one honest line.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .errors import EnvreproError, ModelFormatError
from .fsutil import check_file, staging_dir
from .home import envrepro_home
from .model import INPUT_EXAMPLE_FILE, ModelDir

RUNTIME_PACKAGE = "envrepro_runtime"
_STUB_INIT = '''"""A stub of envrepro inside a model's environment: only what a pickled model may refer to by name."""
from envrepro_runtime.python_model import PythonModel, PythonModelContext

__version__ = {version!r}
'''
_STUB_PYTHON_MODEL = "from envrepro_runtime.python_model import PythonModel, PythonModelContext  # noqa: F401\n"


class RuntimeFailure(EnvreproError):
    """envrepro's own code failed inside the model's environment (not the model, not the input)."""


class ModelFailure(EnvreproError):
    """The model failed to load or to predict inside its environment."""


def _module_files(module: str) -> list[tuple[str, Path]]:
    """(relative path, source file) for ``module``: its file, or every file of its package."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise EnvreproError(f"cannot find the runtime loader module {module!r}",
                            hint="the flavor plugin that names it is not installed correctly")
    origin = Path(spec.origin)
    rel = Path(*module.split("."))
    if spec.submodule_search_locations:  # a package: ship all of it
        return [(str(rel / p.relative_to(origin.parent)), p) for p in sorted(origin.parent.rglob("*.py"))]
    return [(str(rel) + ".py", origin)]


def _runtime_files(loader_modules: list[str]) -> dict[str, bytes]:
    """Every file of the runtime directory, by relative path."""
    from . import __version__

    spec = importlib.util.find_spec(RUNTIME_PACKAGE)
    assert spec is not None and spec.origin is not None, "envrepro_runtime ships with envrepro"
    runtime_root = Path(spec.origin).parent
    files: dict[str, bytes] = {}
    for path in sorted(runtime_root.rglob("*.py")):
        files[str(Path(RUNTIME_PACKAGE) / path.relative_to(runtime_root))] = path.read_bytes()
    files["bootstrap.py"] = (runtime_root / "bootstrap.py").read_bytes()
    for module in sorted(set(loader_modules)):
        for rel, source in _module_files(module):
            files[rel] = source.read_bytes()
        # Parent packages get an empty __init__: a plugin's own __init__ is host code (pluggy, envrepro).
        parts = module.split(".")[:-1]
        for depth in range(1, len(parts) + 1):
            files.setdefault(str(Path(*parts[:depth]) / "__init__.py"), b"")
    files["envrepro/__init__.py"] = _STUB_INIT.format(version=__version__).encode()
    files["envrepro/python_model.py"] = _STUB_PYTHON_MODEL.encode()
    return files


def runtime_dir() -> Path:
    """The runtime directory for the running envrepro and its registered flavors, built once and reused."""
    from .plugins import flavors

    files = _runtime_files([flavor.runtime_loader for flavor, _ in flavors().values()])
    digest = hashlib.sha256()
    for rel, data in sorted(files.items()):
        digest.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
    final = envrepro_home() / "runtime" / digest.hexdigest()[:16]
    if (final / "bootstrap.py").exists():
        return final
    with staging_dir(final, replace=False) as tmp:  # a concurrent builder may win: keep its copy
        for rel, data in files.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        for root, _, names in os.walk(tmp):
            os.chmod(root, 0o755)  # mkdtemp made it 0700: a container's non-root server must read it
            for name in names:
                os.chmod(os.path.join(root, name), 0o644)
    return final


def load_spec(model: ModelDir, *, name: str | None = None) -> dict[str, Any]:
    """The JSON description of how to load ``model`` (see ``envrepro_runtime.loading``)."""
    from envrepro_runtime import PROTOCOL

    from .load import choose_loader

    choice = choose_loader(model)
    code = model.code_dir
    model.artifact_paths()  # every file MLmodel names is inside the model: the worker reads them as named
    example = model.mlmodel.saved_input_example_info
    if isinstance(example, dict):
        check_file(model.inside(example.get("artifact_path", INPUT_EXAMPLE_FILE),
                                 "saved_input_example_info.artifact_path"),
                   what="input example", root=model.path)
    return {
        "protocol": PROTOCOL,
        "name": name or str(model.path),
        "model_dir": str(model.path.resolve()),
        "code_dirs": [str(code.resolve())] if code is not None else [],
        "loader": choice.spec(),
        "flavors": list(model.mlmodel.flavors),
        "input_example": model.mlmodel.saved_input_example_info,
        # As MLflow wrote it (JSON strings): the runtime parses and enforces it (envrepro_runtime.signature).
        "signature": model.mlmodel.extra.get("signature"),
    }


def worker_command(python: str | os.PathLike, command: str, spec: dict[str, Any], *args: str,
                   verbose: bool = False, report: str = "json") -> list[str]:
    """The worker's command line. ``report="json"`` when the host reads the failure report, "text" when the
    worker's stderr goes straight to the user (``serve`` execs it).

    Every caller runs it at once, so this first waits (at most 30 s) for a compiler still writing the
    environment's bytecode after the previous run (envrepro_runtime.bytecode): the worker then imports from
    bytecode instead of compiling the same modules next to it.
    """
    from envrepro_runtime.bytecode import wait_for_compiler

    wait_for_compiler(Path(python).parent.parent, timeout=30.0)  # <prefix>/bin/python
    # -I: nothing from the user's site or PYTHON* variables; -B: no bytecode written into the model's code/.
    head = [os.fspath(python), "-I", "-B", str(runtime_dir() / "bootstrap.py")]
    return [*head, *worker_args(command, spec, *args, verbose=verbose, report=report)]


def worker_args(command: str, spec: dict[str, Any], *args: str, verbose: bool = False,
                report: str = "json") -> list[str]:
    """The worker's own arguments (what follows ``bootstrap.py``; a resident predictor gets just these)."""
    return ["--report", report, *(["-v"] if verbose else []), command, "--spec", "@" + str(spec_file(spec)), *args]


def spec_file(spec: dict[str, Any]) -> Path:
    """The load spec as a content-addressed file under ENVREPRO_HOME (one argument holds at most 128 KiB on
    Linux, and a wide signature exceeds that). Kept: a served model reads it for as long as it serves."""
    from .fsutil import atomic_write_text

    text = json.dumps(spec, sort_keys=True)
    name = f"{hashlib.sha256(text.encode()).hexdigest()[:24]}.json"
    # A container's server user may not write ENVREPRO_HOME (root built it): then a private temp directory.
    for root in (envrepro_home() / "specs", Path(tempfile.gettempdir()) / f"envrepro-specs-{os.getuid()}"):
        path = root / name
        try:
            if not path.exists():
                root.mkdir(parents=True, exist_ok=True, mode=0o700)
                atomic_write_text(path, text)
            return path
        except OSError:
            continue
    raise EnvreproError("cannot write the model's load spec", path=envrepro_home(),
                        hint="make ENVREPRO_HOME (or the temp directory) writable")


def explain_failure(stderr: str, model_name: str, returncode: int) -> EnvreproError:
    """One line for a failed worker, from its report: whose fault it was, and on which Python."""
    from envrepro_runtime.errors import parse_report

    report = parse_report(stderr)
    if report is None:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit code {returncode}, no output"
        return RuntimeFailure(f"envrepro's runtime failed in the model's environment: {last}",
                              hint="run with -v for the full output")
    return explain_report(report, model_name)


def explain_report(report: dict[str, Any], model_name: str) -> EnvreproError:
    """The error for a worker's failure report (``envrepro_runtime.errors.make_report``)."""
    from envrepro_runtime.errors import describe

    message, hint = describe(report, model_name)
    error = {"input": EnvreproError, "format": ModelFormatError, "runtime": RuntimeFailure}.get(
        str(report.get("kind")), ModelFailure)
    return error(message, path=report.get("path"), hint=hint)
