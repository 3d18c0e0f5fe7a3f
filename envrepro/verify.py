"""``envrepro verify``: does a reproduced environment predict what the model predicted when it was saved?

The reference is, in this order of choice: another reproduction (``against``: a manager, or the prefix of an
environment built earlier, e.g. the one the model was trained in), predictions from a file (``expected``),
or the output recorded at save time (``envrepro_output_example.json``, see :mod:`envrepro.output_example`).
Each environment loads the model with envrepro's runtime and predicts on the input example as the save-time
capture did (or on ``input_path``, as ``envrepro predict`` would); the outputs are compared value by value,
numbers within ``rtol``/``atol``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .environments import ENV_MANAGERS, Environment, create_env, existing_env
from .errors import EnvreproError
from .model import ModelDir
from .output_example import recorded_output

DEFAULT_RTOL = 1e-6  # a different BLAS or CPU may move the last bits; any real change is far larger
DEFAULT_ATOL = 1e-9
_SHOWN = 20

# Runs in the model's environment (any Python >= 3.6): load as the worker does, predict as the capture did.
_PROBE = r"""
import json, sys
sys.path.append(sys.argv[1])
from envrepro_runtime.loading import load
from envrepro_runtime.payload import parse_request, to_jsonable
from envrepro_runtime.schema import read_input_example
spec = json.loads(sys.argv[2])
model = load(spec)
if len(sys.argv) > 4:
    with open(sys.argv[4], "rb") as fh:
        data, params = parse_request(fh.read(), sys.argv[5])
    out = model.predict(model.conform(data), params=params)
else:
    out = model.predict(read_input_example(spec["model_dir"], spec["input_example"]))
with open(sys.argv[3], "w") as fh:
    json.dump({"output": to_jsonable(out)}, fh)
"""


@dataclass(frozen=True)
class Difference:
    path: str
    expected: Any
    actual: Any
    note: str = ""


@dataclass
class Comparison:
    values: int = 0  # leaves compared
    differences: list[Difference] = field(default_factory=list)
    largest: float = 0.0  # the largest absolute difference between numbers that were compared

    @property
    def ok(self) -> bool:
        return not self.differences


def compare(expected: Any, actual: Any, *, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
            path: str = "predictions") -> Comparison:
    """Value-by-value comparison of two JSON values; numbers match when ``|a - e| <= atol + rtol * |e|``."""
    result = Comparison()
    _compare(expected, actual, path, rtol, atol, result)
    return result


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    return "null" if value is None else "number" if _is_number(value) else type(value).__name__


def _compare(expected: Any, actual: Any, path: str, rtol: float, atol: float, out: Comparison) -> None:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual), key=str):
            sub = f"{path}[{json.dumps(key)}]"
            if key not in actual:
                out.values += 1
                out.differences.append(Difference(sub, expected[key], None, "missing from the reproduction"))
            elif key not in expected:
                out.values += 1
                out.differences.append(Difference(sub, None, actual[key], "not in the reference"))
            else:
                _compare(expected[key], actual[key], sub, rtol, atol, out)
        return
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            out.differences.append(Difference(path, f"{len(expected)} items", f"{len(actual)} items",
                                              "lengths differ"))
        for i, (e, a) in enumerate(zip(expected, actual)):
            _compare(e, a, f"{path}[{i}]", rtol, atol, out)
        return
    out.values += 1
    if _is_number(expected) and _is_number(actual):
        if math.isnan(expected) or math.isnan(actual):
            if not (math.isnan(expected) and math.isnan(actual)):
                out.differences.append(Difference(path, expected, actual))
            return
        diff = abs(actual - expected)
        if math.isfinite(diff):
            out.largest = max(out.largest, diff)
        if not (diff <= atol + rtol * abs(expected) or expected == actual):
            rel = f", relative {diff / abs(expected):.3g}" if expected else ""
            out.differences.append(Difference(path, expected, actual, f"off by {diff:.3g}{rel}"))
        return
    if _kind(expected) != _kind(actual):
        out.differences.append(Difference(path, expected, actual, f"{_kind(expected)} vs {_kind(actual)}"))
    elif expected != actual:
        out.differences.append(Difference(path, expected, actual))


@dataclass
class Verification:
    reference: str  # what was compared against, for people
    candidate: str  # the reproduction checked
    comparison: Comparison
    rtol: float
    atol: float
    reference_output: Any = None
    candidate_output: Any = None

    @property
    def ok(self) -> bool:
        return self.comparison.ok

    def summary(self) -> str:
        c = self.comparison
        tol = f"rtol={self.rtol:g}, atol={self.atol:g}"
        if self.ok:
            return (f"verified: {self.candidate} reproduces {self.reference}: {c.values} values match ({tol}; "
                    f"largest difference {c.largest:g})")
        return (f"MISMATCH: {self.candidate} differs from {self.reference} at {len(c.differences)} of {c.values} "
                f"values ({tol})")

    def diff_lines(self, limit: int = _SHOWN) -> list[str]:
        lines = []
        for d in self.comparison.differences[:limit]:
            note = f"  ({d.note})" if d.note else ""
            lines.append(f"  {d.path}: expected {_short(d.expected)}, got {_short(d.actual)}{note}")
        hidden = len(self.comparison.differences) - limit
        if hidden > 0:
            lines.append(f"  ... and {hidden} more (--json shows all)")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "reference": self.reference, "candidate": self.candidate, "rtol": self.rtol,
                "atol": self.atol, "values": self.comparison.values, "largest_difference": self.comparison.largest,
                "differences": [{"path": d.path, "expected": d.expected, "actual": d.actual, "note": d.note}
                                for d in self.comparison.differences],
                "expected": self.reference_output, "actual": self.candidate_output}


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value)
    return text if len(text) <= width else text[: width - 3] + "..."


# -- predicting in an environment ------------------------------------------------------------------------
def predict_in(env: Environment, model: ModelDir, input_path: str | os.PathLike | None = None,
               content_type: str = "json") -> Any:
    """The model's output, as JSON values, predicted inside ``env`` on its input example (or ``input_path``)."""
    from .launch import load_spec, runtime_dir
    from .predicting import media_type

    spec = load_spec(model)
    if input_path is None and not spec["input_example"]:
        raise EnvreproError("the model has no input example to predict on", path=model.path,
                            hint="give an input file with -i INPUT")
    with tempfile.TemporaryDirectory(prefix="envrepro-verify-") as tmp, _in_use(env):
        out = Path(tmp) / "output.json"
        cmd = [os.fspath(env.python), "-I", "-B", "-c", _PROBE, str(runtime_dir()), json.dumps(spec), str(out)]
        if input_path is not None:
            cmd += [str(Path(input_path).absolute()), media_type(content_type)]
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")
        if proc.returncode != 0 or not out.is_file():
            lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
            what = "the input example" if input_path is None else str(input_path)
            raise EnvreproError(f"predicting on {what} failed in {describe_env(env)}: "
                                f"{lines[-1] if lines else f'exit {proc.returncode}'}", path=model.path,
                                hint="`envrepro predict -v` on the same input shows the whole error")
        return json.loads(out.read_text())["output"]


@contextlib.contextmanager
def _in_use(env: Environment) -> Iterator[None]:
    """A cached environment is marked in use while it predicts, so `env prune` leaves it alone."""
    if env.cache_key is None:
        yield
        return
    from .envs.cache import EnvCache

    with EnvCache().in_use(env.cache_key):
        yield


def describe_env(env: Environment) -> str:
    if env.manager == "local":
        return f"this Python ({env.python})"
    if env.manager == "prefix":
        return f"the environment at {env.prefix}"
    return f"the {env.manager} environment ({env.prefix})"


# -- verify -----------------------------------------------------------------------------------------------
def verify_model(model_path: str | os.PathLike, *, env_manager: str | None = None, against: str | None = None,
                 expected: str | os.PathLike | None = None, input_path: str | os.PathLike | None = None,
                 content_type: str = "json", rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                 pip_requirements_override: Sequence[str] | None = None, env_prefix: str | os.PathLike | None = None,
                 quiet: bool = False, **engine_options: Any) -> Verification:
    """Rebuild (or reuse) the model's environment, predict there, and compare with the reference.

    ``against``: a manager (uv, virtualenv, conda, local) or the prefix of an existing environment to
    reproduce as the reference; ``expected``: a JSON file of predictions (``{"predictions": ...}`` as
    ``envrepro predict`` writes, or the bare value); neither: the output recorded when the model was saved.
    ``pip_requirements_override`` applies to the checked environment only ("does this upgrade change the
    predictions?"). Raises EnvreproError when there is nothing to compare with or a prediction fails.
    """
    model = ModelDir.open(model_path)
    if against is not None and expected is not None:
        raise EnvreproError("--against and --expected name two references: give one")
    if against is not None and against not in ENV_MANAGERS and not Path(against).is_dir():  # before any build
        raise EnvreproError(f"--against takes an env manager ({', '.join(ENV_MANAGERS)}) or an environment's "
                            f"prefix; {against!r} is neither")
    if against is None and expected is None:
        if input_path is not None:
            raise EnvreproError("the recorded output is for the input example, not for -i",
                                hint="compare two reproductions on it with --against, or give --expected FILE")
        present, reference_output = recorded_output(model)
        if not present:
            raise EnvreproError(
                "the model has no recorded output to verify against (it was saved by MLflow, or without an input "
                "example)", path=model.path,
                hint="compare two reproductions with --against MANAGER (uv, virtualenv, conda, local) or "
                     "--against PREFIX, or give --expected FILE")
        reference = "the output recorded when the model was saved"
    elif expected is not None:
        reference_output = _read_expected(expected)
        reference = f"the predictions in {expected}"
    candidate_env = create_env(model.path, env_manager=env_manager, pip_requirements_override=pip_requirements_override,
                               quiet=quiet, env_prefix=env_prefix, **engine_options)
    if against is not None:
        reference_env = _against_env(model, against, quiet=quiet, **engine_options)
        reference = describe_env(reference_env)
        reference_output = predict_in(reference_env, model, input_path, content_type)
    candidate_output = predict_in(candidate_env, model, input_path, content_type)
    comparison = compare(reference_output, candidate_output, rtol=rtol, atol=atol)
    return Verification(reference, describe_env(candidate_env), comparison, rtol, atol, reference_output,
                        candidate_output)


def _against_env(model: ModelDir, against: str, *, quiet: bool, **engine_options: Any) -> Environment:
    if against in ENV_MANAGERS:
        return create_env(model.path, env_manager=against, quiet=quiet, **engine_options)
    return existing_env(against)


def _read_expected(path: str | os.PathLike) -> Any:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise EnvreproError(f"cannot read the expected predictions: {exc.strerror}", path=path) from None
    except ValueError as exc:
        raise EnvreproError(f"the expected predictions are not JSON: {exc}", path=path) from None
    return data["predictions"] if isinstance(data, dict) and set(data) == {"predictions"} else data
