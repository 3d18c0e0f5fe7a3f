"""The ``code_paths`` check: every local module the model imports must travel with it under ``code/``.

A local module is one that no installed distribution provides and that is not in the standard library: the
user's own code. If loading or predicting imported one from anywhere but the staged ``code/`` directory, the
saved model would fail to load elsewhere. Either ``code_paths`` misses it, or it covers it at the wrong
depth (``["src/utils.py"]`` is copied to ``code/utils.py``, importable as ``utils``, while the code does
``from src.utils import f``). Both cases name the module and the ``code_paths`` value that would work.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EnvreproError


@dataclass
class Uncovered:
    modules: list[str]              # local modules under one top-level entry, imported from outside code/
    entry: Path                     # the top-level file/package directory that code_paths should list
    # code_paths entries that hold one of them too deep -> the module they hold
    wrong_depth: dict[str, str] = field(default_factory=dict)


def _top_entry(module: str, file: str) -> Path | None:
    """``/x/src/utils.py`` imported as ``src.utils`` -> ``/x/src``; ``/x/helper.py`` as ``helper`` -> itself."""
    path = Path(file).resolve()
    parts = module.split(".")
    depth = len(parts) if path.stem != "__init__" else len(parts) + 1
    root = path
    for _ in range(depth):
        root = root.parent
    top = root / parts[0]
    if top.is_dir():
        return top
    if len(parts) == 1:
        return path
    return None


def _display(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return rel if not rel.startswith("..") or len(rel) < len(str(path)) else str(path)


def find_uncovered(local_modules: Iterable[tuple[str, str]], code_dir: Path,
                   code_paths: Sequence[str | os.PathLike[str]]) -> list[Uncovered]:
    code_root = code_dir.resolve() if code_dir.exists() else None
    given = [(os.fspath(p), Path(os.fspath(p)).resolve()) for p in code_paths]
    found: dict[Path, Uncovered] = {}
    for module, file in sorted(local_modules):
        real = Path(file).resolve()
        if code_root is not None and (real == code_root or code_root in real.parents):
            continue
        entry = _top_entry(module, file)
        if entry is None:
            continue
        item = found.setdefault(entry, Uncovered([], entry))
        item.modules.append(module)
        for shown, resolved in given:
            if (resolved == real or resolved in real.parents) and resolved != entry:
                item.wrong_depth.setdefault(shown, module)
    return list(found.values())


def check_code_paths(uncovered: list[Uncovered], code_paths: Sequence[str | os.PathLike[str]]) -> None:
    """Raise the error that names each uncovered module and the ``code_paths`` value that would work."""
    if not uncovered:
        return
    wrong = {w for item in uncovered for w in item.wrong_depth}
    working = [os.fspath(p) for p in code_paths if os.fspath(p) not in wrong]
    working += [_display(item.entry) for item in uncovered]
    problems = []
    for item in uncovered:
        for shown, module in item.wrong_depth.items():
            held = Path(shown)
            as_name = held.stem if held.suffix == ".py" else held.name
            problems.append(f"code_paths entry {shown!r} holds local module {module!r} at the wrong depth: it is "
                            f"copied to code/{held.name} (importable as {as_name!r}), but the code imports "
                            f"{module!r}")
        if not item.wrong_depth:
            names = ", ".join(repr(m) for m in item.modules)
            problems.append(f"the model imports local module {names} from {item.entry}, which code_paths does "
                            f"not cover")
    raise EnvreproError(
        "; ".join(problems) + "; the saved model would not load anywhere else",
        hint=f"use code_paths={working!r}, or pass infer_code_paths=True to add them automatically",
    )
