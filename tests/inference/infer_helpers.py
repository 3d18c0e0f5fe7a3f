"""Helpers shared by the inference tests: fake installed distributions and user modules."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path


def write_module(directory: Path, source: str, prefix: str = "m") -> tuple[str, Path]:
    """A uniquely named module file in ``directory``; returns (module name, path)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return name, path


def make_dist(site: Path, name: str, version: str = "1.0", *, files: dict[str, str] | None = None,
              requires: list[str] = (), extras: list[str] = (), top_level: list[str] | None = None,
              editable_url: str | None = None) -> Path:
    """A minimal installed distribution (dist-info + files) in ``site``, as pip would leave it."""
    files = files or {}
    for rel, text in files.items():
        target = site / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    meta += [f"Provides-Extra: {e}" for e in extras] + [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(meta) + "\n")
    record = list(files) + [f"{info.name}/METADATA", f"{info.name}/RECORD"]
    if top_level is not None:
        (info / "top_level.txt").write_text("\n".join(top_level) + "\n")
        record.append(f"{info.name}/top_level.txt")
    if editable_url is not None:
        (info / "direct_url.json").write_text(json.dumps({"url": editable_url, "dir_info": {"editable": True}}))
        record.append(f"{info.name}/direct_url.json")
    (info / "RECORD").write_text("".join(f"{r},,\n" for r in record))
    return info
