"""envrepro's own tooling for the image: a wheel of the running envrepro and version pins of its dependencies.

The image must run the same envrepro that wrote the Dockerfile, so a wheel of it goes into the build context
(built from the source tree, or given with ``ENVREPRO_WHEEL``). Its dependencies are pinned, as constraints,
to the versions installed here: the image's tooling is then the tested set, not whatever PyPI has that day.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..errors import EnvreproError

WHEEL_ENV = "ENVREPRO_WHEEL"
# What a wheel build of the source tree needs (see pyproject.toml's package-dir): nothing else is copied.
_SOURCE_FILES = ("pyproject.toml", "README.md")
_SOURCE_DIRS = ("envrepro", "flavors", "runtime")
# The builder stage installs the lock with these; the final stage needs only envrepro's core.
BUILDER_TOOLS = ("py-rattler", "uv")


def source_tree() -> Path | None:
    """The source checkout envrepro runs from (editable or in-place), or None for an installed wheel."""
    import envrepro

    root = Path(envrepro.__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "envrepro"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def envrepro_wheel(dest: Path) -> Path:
    """Put a wheel of the running envrepro into ``dest`` and return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    explicit = os.environ.get(WHEEL_ENV)
    if explicit:
        wheel = Path(explicit)
        if not (wheel.is_file() and wheel.name.startswith("envrepro-") and wheel.suffix == ".whl"):
            raise EnvreproError(f"{WHEEL_ENV} does not name an envrepro wheel", path=wheel,
                                hint="build one with `pip wheel --no-deps PATH_TO_ENVREPRO_SOURCE`")
        return Path(shutil.copy2(wheel, dest / wheel.name))
    root = source_tree()
    if root is None:
        raise EnvreproError("envrepro is not installed from a source tree, so there is no wheel of it to put in "
                            "the image", hint=f"set {WHEEL_ENV}=/path/to/envrepro-VERSION-py3-none-any.whl")
    with tempfile.TemporaryDirectory(prefix="envrepro-wheel-") as tmp:
        # Build from a clean copy: setuptools writes build/ and *.egg-info into the tree it builds.
        src = Path(tmp) / "src"
        src.mkdir()
        for name in _SOURCE_FILES:
            shutil.copy2(root / name, src / name)
        for name in _SOURCE_DIRS:
            shutil.copytree(root / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                               "--disable-pip-version-check", "-q", "-w", str(dest), str(src)],
                              capture_output=True, text=True)
    wheels = sorted(dest.glob("envrepro-*.whl"))
    if proc.returncode != 0 or not wheels:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise EnvreproError(f"building a wheel of envrepro from {root} failed: {last}",
                            hint=f"build one yourself and set {WHEEL_ENV}=/path/to/it")
    return wheels[-1]


def tooling_constraints(roots: tuple[str, ...] = ("envrepro", *BUILDER_TOOLS)) -> list[str]:
    """``name==version`` for every installed distribution that ``roots`` need here (envrepro itself excluded)."""
    pins: dict[str, str] = {}
    stack = list(roots)
    while stack:
        name = canonicalize_name(stack.pop())
        if name in pins:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        pins[name] = dist.version
        for line in dist.requires or []:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                stack.append(req.name)
    pins.pop("envrepro", None)
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def tooling_wheels(dest: Path, requirements: Sequence[str], constraints: Sequence[str], *, platform: str,
                   python_version: str, quiet: bool = True) -> list[Path]:
    """Wheels of ``requirements`` (and what they need) for the image's platform and Python, into ``dest``.

    Resolved by uv for that target (as a pip lock is), each file hash-checked on download: the image then
    installs its tooling with ``pip --no-index`` and needs no package index (``generate-dockerfile --bundle``).
    """
    from ..envs.from_lock import fetch_verified
    from ..lock.pip_lock import lock_pip
    from ..lock.virtual import virtual_packages_for

    packages = [p for p in lock_pip(requirements, constraints, platform=platform, python_version=python_version,
                                    virtual_packages=virtual_packages_for(platform), quiet=quiet)
                if p.name != "envrepro"]  # envrepro's own wheel is in the context already
    sdists = [p.name for p in packages if not p.filename.endswith(".whl")]
    if sdists:
        raise EnvreproError(f"no wheel of {', '.join(sdists)} for Python {python_version} on {platform}: the "
                            "image could not build it without a package index",
                            hint="use a base image whose Python has wheels for them (--base-image), or drop --bundle")
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for pkg, path in zip(packages, fetch_verified(packages)):
        target = dest / pkg.filename
        shutil.copyfile(path, target)
        out.append(target)
    return out
