"""Write a Docker build context for a model: Dockerfile, .dockerignore, the model with its lock, envrepro's wheel.

``context/``
  ``Dockerfile``, ``.dockerignore``
  ``model/``: a copy of the model; ``model/conda-lock.yml`` is the lock the image installs
  ``tooling/``: ``constraints.txt`` pinning envrepro's dependencies, and envrepro's wheel unless the image
  installs it from the package index (see :mod:`.envrepro_source`)
  ``vendor/<n>/``: packages the lock names by ``file://`` URL (a local channel or mirror), when there are any
  ``.envrepro-context.json``: what was generated from what (not sent to the Docker engine)

With ``bundle=True`` the context builds with no network: ``bundle/model.tar`` (an envrepro bundle of the
model for the image's platform) replaces ``vendor/``, ``tooling/wheels/`` holds envrepro's dependencies and
``builder-tooling/`` py-rattler, uv and theirs, all as wheels for the image's Python.

The context is assembled in a staging directory and renamed into place: it is complete or absent.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..envs.from_lock import stored_package
from ..errors import EnvreproError
from ..fsutil import is_inside, staging_dir
from ..model import ModelDir
from . import dockerfile
from .envrepro_source import EnvreproSource, envrepro_for_image
from .lockchoice import ChosenLock, choose_lock
from .tooling import BUILDER_TOOLS, tooling_constraints, tooling_wheels

MARKER = ".envrepro-context.json"
MIN_TOOLING_PYTHON = (3, 10)  # envrepro's own requires-python


@dataclass
class DockerContext:
    path: Path
    base_image: str
    platform: str
    lock: Path
    lock_kind: str
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def dockerfile(self) -> Path:
        return self.path / "Dockerfile"


def generate_context(model_path: str | os.PathLike, output_dir: str | os.PathLike, *, platform: str = "linux-64",
                     pip_only: bool = False, channel_alias: Mapping[str, str] | None = None,
                     base_image: str | None = None, quiet: bool = False, bundle: bool = False) -> DockerContext:
    """Write the build context of ``model_path``'s image into ``output_dir`` (see the module docstring).

    ``output_dir`` must not exist, be empty, or hold a context generated earlier (which is replaced).
    """
    started = time.perf_counter()
    model = ModelDir.open(model_path)
    # Values that go into the Dockerfile: fail before locking, not after (render checks every value again).
    if model.mlmodel.model_uuid is not None:
        dockerfile.check_value("model_uuid", str(model.mlmodel.model_uuid), path=str(model.path / "MLmodel"))
    if base_image is not None:
        dockerfile.check_value("--base-image", base_image, dockerfile.IMAGE_REFERENCE)
    out = Path(output_dir).resolve()
    _check_output(out, model.path.resolve())
    with staging_dir(out) as tmp:
        copy = tmp / "model"
        _copy_model(model.path, copy)
        chosen = choose_lock(model.path, copy, platform, pip_only=pip_only, channel_alias=channel_alias,
                             quiet=quiet)
        image = base_image or _base_image(chosen)
        vendored = [] if bundle else _vendor(chosen, tmp)
        source = envrepro_for_image(tmp / "tooling")
        constraints = tooling_constraints()
        (tmp / "tooling" / "constraints.txt").write_text(
            "# Versions of envrepro's tooling tested with this envrepro (not the model's environment).\n"
            + "".join(f"{line}\n" for line in constraints), encoding="utf-8")
        bundle_name = _offline_payload(copy, tmp, source, constraints, chosen, quiet=quiet) if bundle else None
        spec = dockerfile.ImageSpec(
            base_image=image, wheel=source.wheel.name if source.wheel else None, platform=platform,
            envrepro_version=__version__,
            model_uuid=None if model.mlmodel.model_uuid is None else str(model.mlmodel.model_uuid),
            lock_kind=chosen.kind, lock_content_hash=chosen.content_hash,
            lock_sha256=chosen.sha256, vendored=vendored, bundle=bundle_name)
        (tmp / "Dockerfile").write_text(dockerfile.render(spec), encoding="utf-8")
        (tmp / ".dockerignore").write_text(dockerfile.DOCKERIGNORE, encoding="utf-8")
        _readable(tmp)
        (tmp / MARKER).write_text(json.dumps({
            "envrepro_version": __version__, "model": str(model.path.resolve()), "model_uuid": spec.model_uuid,
            "platform": platform, "base_image": image, "lock_kind": chosen.kind, "lock_sha256": chosen.sha256,
            "lock_content_hash": chosen.content_hash, "note": chosen.note, "bundle": bundle_name,
            "envrepro_from": source.origin}, indent=2) + "\n", encoding="utf-8")
    notes = ([chosen.note] if chosen.note else []) + ([] if bundle else source.notes)
    return DockerContext(out, image, platform, out / "model" / chosen.path.name, chosen.kind, notes,
                         time.perf_counter() - started)


def _copy_model(source: Path, copy: Path) -> None:
    """Copy the model directory; its symlinks stay symlinks, made relative, and must point inside it.

    Following them would copy whatever they point at into the image (a private file outside the model
    would become world-readable there); a link out of the model is refused with one line instead.
    """
    shutil.copytree(source, copy, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".git"))
    real_source = Path(os.path.realpath(source))
    for root, dirs, files in os.walk(copy):
        for name in dirs + files:
            link = Path(root) / name
            if not link.is_symlink():
                continue
            rel = link.relative_to(copy)
            if not is_inside(source, rel):
                raise EnvreproError(f"{rel.as_posix()} is a symlink to {os.readlink(source / rel)}, outside the model "
                                    "directory: it cannot go into the image", path=source,
                                    hint="replace the link by the file itself, or remove it")
            target = Path(os.path.realpath(source / rel))
            link.unlink()
            os.symlink(os.path.relpath(target, real_source / rel.parent), link)


def _offline_payload(copy: Path, root: Path, source: EnvreproSource, constraints: list[str], chosen: ChosenLock,
                     *, quiet: bool) -> str:
    """``--bundle``: a bundle of the model for the image, and every tooling wheel; returns the bundle's name."""
    from ..bundle import create_bundle

    name = "model.tar"
    (root / "bundle").mkdir()
    create_bundle(copy, root / "bundle" / name, platforms=[chosen.platform],
                  env_manager="conda" if chosen.kind == "conda" else "uv", quiet=quiet)
    # The image's Python: the model's own for a pip lock (the venv's base), else the one the base image has.
    python = chosen.python_version if chosen.kind == "pip" and chosen.python_version else "%d.%d" % sys.version_info[:2]
    # envrepro's own wheel: in tooling/ already, or resolved here with the rest (the image has no index).
    envrepro = [f"envrepro @ {source.wheel.as_uri()}" if source.wheel else f"envrepro=={__version__}"]
    skip = ("envrepro",) if source.wheel else ()
    core = tooling_wheels(root / "tooling" / "wheels", envrepro, constraints, platform=chosen.platform,
                          python_version=python, quiet=quiet, in_context=skip)
    everything = tooling_wheels(root / "builder-tooling", [*envrepro, *BUILDER_TOOLS], constraints,
                                platform=chosen.platform, python_version=python, quiet=quiet, in_context=skip)
    for path in everything:  # the builder reads both directories: keep each wheel once
        if path.name in {c.name for c in core}:
            path.unlink()
    return name


def _readable(root: Path) -> None:
    """COPY keeps file modes, and the image runs as a non-root user: make everything readable by all.

    Staging directories and atomically written files are private (0700/0600); ``vendor/`` is skipped (its
    files may be hard links to a channel's, and only root reads them, in the builder).
    """
    os.chmod(root, 0o755)
    for path in root.rglob("*"):
        if path.is_symlink() or path.relative_to(root).parts[0] == "vendor":
            continue
        mode = path.stat().st_mode
        os.chmod(path, 0o755 if path.is_dir() or mode & 0o111 else 0o644)


def _check_output(out: Path, model: Path) -> None:
    if out == model or model in out.parents or out in model.parents:
        raise EnvreproError("the output directory must be outside the model directory (and not contain it)",
                            path=out)
    if out.is_file() or (out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file()):
        raise EnvreproError("the output directory exists and is not an envrepro build context", path=out,
                            hint="choose a new or empty directory; a context generated earlier is replaced")


def _base_image(chosen: ChosenLock) -> str:
    """pip lock: the venv's base interpreter, so the model's exact Python. conda lock: the env brings its own
    Python; the base's only runs envrepro, so it is this interpreter's minor version (the tooling pins' own)."""
    if chosen.kind != "pip":
        return "python:%d.%d-slim" % sys.version_info[:2]
    version = chosen.python_version or ""
    parts = version.split(".")
    if not (len(parts) >= 2 and all(p.isdigit() for p in parts[:3])):
        raise EnvreproError(f"the pip lock records no usable Python version ({version!r})", path=chosen.path,
                            hint="re-lock with `envrepro lock --pip-only`, or pass --base-image")
    if (int(parts[0]), int(parts[1])) < MIN_TOOLING_PYTHON:
        raise EnvreproError(
            f"the model needs Python {version}, but the image's Python also runs envrepro, which needs "
            f"{'.'.join(map(str, MIN_TOOLING_PYTHON))}+", path=chosen.path,
            hint="build from the conda lock instead (it brings its own Python): drop --pip-only")
    return f"python:{'.'.join(parts[:3])}-slim"


def _vendor(chosen: ChosenLock, root: Path) -> list[tuple[str, str]]:
    """Copy the lock's ``file://`` packages into ``root/vendor/<n>/``, one directory per source directory."""
    dirs: dict[Path, str] = {}
    for pkg in chosen.lock.for_platform(chosen.platform):
        url = urllib.parse.urlsplit(pkg.url.split("#", 1)[0])
        if url.scheme != "file":
            continue
        locked = Path(urllib.request.url2pathname(url.path))
        # The channel's file, or the same file (by hash) from the package store, e.g. a bundle's.
        source = locked if locked.is_file() else stored_package(pkg)
        if source is None:
            raise EnvreproError(f"locked package {pkg.name} {pkg.version} is missing: {locked}", path=chosen.path,
                                hint="restore the channel, or re-lock against one that is there")
        rel = dirs.setdefault(locked.parent, f"vendor/{len(dirs)}")
        target = root / rel / locked.name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)  # a local channel's python is ~14 MB: share it, don't copy it
        except OSError:
            shutil.copy2(source, target)
    return [(rel, source_dir.as_posix()) for source_dir, rel in dirs.items()]
