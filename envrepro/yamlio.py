"""Reading YAML files with errors that name the file and the line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from .errors import ModelFormatError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def load_yaml_file(path: str | os.PathLike, *, expect: type = dict, what: str = "YAML file") -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelFormatError(f"{what} not found", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"cannot read {what}: {exc}", path=path) from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ModelFormatError(f"malformed {what}{where}: {problem}", path=path,
                               hint="fix the YAML syntax") from None
    if not isinstance(data, expect):
        raise ModelFormatError(
            f"malformed {what}: expected a {expect.__name__} at the top level, got {type(data).__name__}",
            path=path,
        )
    return data


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, default_flow_style=False, sort_keys=False)
