"""Open a bundle: unpack it once, verified, into a content-addressed place under ``ENVREPRO_HOME``.

``$ENVREPRO_HOME/bundles/<id>/`` holds the manifest and ``model/`` (byte for byte the bundled model, its lock
included); ``<id>`` is the sha256 of the manifest, which lists the sha256 of every file. The packages go into
the local package store, ``$ENVREPRO_HOME/locked-pkgs/<sha256>/<file>``, where installing from the model's
lock finds them by hash instead of fetching their URLs (see ``envrepro.envs.from_lock``), with a record
next to each sdist of the wheels it builds with (see ``envrepro.envs.sdist_builds``).

Unpacking goes to a staging directory; nothing is kept unless every check of ``archive.extract_verified``
passed. A bundle opened before is not read again (only its manifest, to find its ``<id>``): what runs is
what was verified then.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..envs.progress import Progress
from ..envs.sdist_builds import has_build_record, record_build_wheels
from ..envs.store import store_root
from ..fsutil import staging_dir
from ..home import envrepro_home
from .archive import BundleError, extract_verified, read_manifest
from .manifest import PACKAGES_DIR, Manifest, mb, package_key
from .origin import BUNDLES_DIR, MANIFEST_NAME, MODEL_DIR

_opened: dict[tuple[str, int, int, str], OpenedBundle] = {}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenedBundle:
    source: Path  # the bundle file
    root: Path  # $ENVREPRO_HOME/bundles/<id>
    manifest: Manifest

    @property
    def model_dir(self) -> Path:
        return self.root / MODEL_DIR

    @property
    def lock_path(self) -> Path:
        return self.model_dir / self.manifest.lock_in_model


def is_bundle(path: str | os.PathLike) -> bool:
    """A file whose first tar member is a bundle manifest (cheap: reads one header)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return False
    return len(head) == 512 and head[:100].rstrip(b"\0") == MANIFEST_NAME.encode()


def open_bundle(path: str | os.PathLike, *, quiet: bool = False) -> OpenedBundle:
    """The bundle at ``path``, unpacked (once) and verified; BundleError when it is not one or is damaged."""
    path = Path(path)
    if not path.is_file():
        raise BundleError("bundle file not found", path=path, hint="give the file `envrepro bundle` wrote")
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, str(envrepro_home()))
    if memo in _opened and _complete(_opened[memo]):
        return _opened[memo]
    data = read_manifest(path)
    manifest = Manifest.from_json(data, path)
    root = envrepro_home() / BUNDLES_DIR / hashlib.sha256(data).hexdigest()[:32]
    opened = OpenedBundle(path, root, manifest)
    if not _complete(opened):
        _unpack(opened, data, quiet=quiet)
    _opened[memo] = opened
    return opened


def _store_path(bundle_path: str) -> Path:
    key, name = package_key(bundle_path)
    return store_root() / key / name


def _complete(opened: OpenedBundle) -> bool:
    """Unpacked earlier, and its packages are still in the store (a pruned store is filled again)."""
    manifest = opened.manifest
    return ((opened.root / MANIFEST_NAME).is_file() and all(_store_path(p.path).is_file() for p in manifest.packages)
            and all(has_build_record(_store_path(s)) for s in manifest.build_requirements))


def _unpack(opened: OpenedBundle, manifest_bytes: bytes, *, quiet: bool) -> None:
    manifest = opened.manifest
    progress = Progress(quiet=quiet)
    total = manifest.size()
    progress.step(f"unpacking {opened.source} ({len(manifest.files)} files, {mb(total)}), checking every byte")
    done = [0]

    def advance(n: int) -> None:
        done[0] += n
        progress.status(f"verified {mb(done[0])} of {mb(total)}")

    files = {f.path: (f.sha256, f.size) for f in manifest.files}
    if opened.root.exists() and not (opened.root / MANIFEST_NAME).is_file():
        shutil.rmtree(opened.root)  # someone removed its manifest: not trusted any more
    # replace=False: an unpacked copy that exists is complete and may be in use (only the store needed refilling)
    with staging_dir(opened.root, replace=False) as tmp:
        extract_verified(opened.source, tmp, files, progress=advance if progress.enabled else None)
        for package in manifest.packages:  # verified: now they may enter the shared store
            _into_store(tmp / package.path, _store_path(package.path))
        for sdist, wheels in manifest.build_requirements.items():
            record_build_wheels(_store_path(sdist), ["/".join(package_key(w)) for w in wheels])
        shutil.rmtree(tmp / PACKAGES_DIR, ignore_errors=True)
        (tmp / MANIFEST_NAME).write_bytes(manifest_bytes)  # last: its presence marks a complete unpack
        os.chmod(tmp, 0o755)
    progress.finish()
    log.debug("unpacked %s into %s", opened.source, opened.root)


def _into_store(staged: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(staged, target)  # atomic: a reader sees the old file or the new one, both verified
    except OSError:  # another file system
        tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
        shutil.copyfile(staged, tmp)
        os.replace(tmp, target)
