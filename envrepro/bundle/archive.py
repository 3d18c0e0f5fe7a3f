"""The bundle file: an uncompressed tar in which every byte is checked when it is read.

Members, in this order, regular files only::

    envrepro-bundle.json     the manifest (what the bundle holds, each file's sha256 and size)
    model/...                the model directory
    packages/<key>/<file>    the packages the lock names for the bundled platforms (<key>: the file's sha256)
    envrepro-bundle.seal     "sha256 <hex>\\n": the hash of every byte before this member's header

Why plain tar: the packages are already compressed (wheels are zip, conda archives bzip2 or zstd), so gzip
would cost time on both ends for a few percent; every Python reads tar; and an uncompressed archive can be
checked member by member without unpacking it whole.

Written deterministically (members sorted by the caller, fixed times and owners): the same model, lock and
packages give the same bytes. Reading checks each file against the manifest, that the manifest names exactly
the files present, the seal over every byte before it (tar headers and padding included), the seal's own
header, and that exactly the standard end-of-archive zeros follow it: a flipped, missing or extra byte
anywhere is refused.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import tarfile
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from ..errors import EnvreproError
from .origin import MANIFEST_NAME

SEAL_NAME = "envrepro-bundle.seal"
_MTIME = 1_700_000_000  # fixed: a bundle's bytes depend on its content only
_FORMAT: Literal[2] = tarfile.PAX_FORMAT
_CHUNK = 1 << 20
_MAX_MANIFEST = 64 << 20


class BundleError(EnvreproError):
    """A bundle file is not one, or is damaged."""


@dataclass(frozen=True)
class Entry:
    """One file to write: its name in the archive, where it is now, and what it must hash to."""

    name: str
    source: Path
    sha256: str
    size: int
    executable: bool = False


# -- writing ------------------------------------------------------------------------------------------------
class _HashingWriter:
    """The output file as tarfile sees it: counts and hashes every byte written (tarfile only appends)."""

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.sha = hashlib.sha256()
        self.count = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.count += len(data)
        return self.raw.write(data)

    def tell(self) -> int:
        return self.count


class _HashingReader:
    """A source file as tarfile reads it: the bytes that go into the archive are the bytes hashed."""

    def __init__(self, raw: IO[bytes], progress: Callable[[int], None] | None):
        self.raw = raw
        self.sha = hashlib.sha256()
        self.progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.sha.update(data)
        if self.progress is not None:
            self.progress(len(data))
        return data


def _info(name: str, size: int, executable: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o755 if executable else 0o644
    info.mtime = _MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _seal_header(size: int) -> bytes:
    return _info(SEAL_NAME, size).tobuf(_FORMAT, "utf-8", "surrogateescape")


def _seal_text(digest: str) -> bytes:
    return f"sha256 {digest}\n".encode("ascii")


def write_archive(path: Path, manifest: bytes, entries: Sequence[Entry], *,
                  progress: Callable[[int], None] | None = None) -> None:
    """Write the bundle to ``path`` atomically (a temporary sibling renamed into place)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw:
            out = _HashingWriter(raw)
            with tarfile.open(fileobj=out, mode="w", format=_FORMAT, encoding="utf-8") as tar:  # type: ignore[call-overload]
                tar.addfile(_info(MANIFEST_NAME, len(manifest)), _BytesReader(manifest))
                for entry in entries:
                    with open(entry.source, "rb") as fh:
                        reader = _HashingReader(fh, progress)
                        try:
                            tar.addfile(_info(entry.name, entry.size, entry.executable), reader)
                        except tarfile.ReadError:  # shorter than when it was hashed
                            reader.sha = hashlib.sha256(b"changed")
                    if reader.sha.hexdigest() != entry.sha256:  # the file changed after it was hashed
                        raise BundleError(f"{entry.source} changed while the bundle was written",
                                          hint="run envrepro bundle again")
                seal = _seal_text(out.sha.hexdigest())
                tar.addfile(_info(SEAL_NAME, len(seal)), _BytesReader(seal))
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class _BytesReader:
    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.pos + size
        chunk = bytes(self.data[self.pos:end])
        self.pos += len(chunk)
        return chunk


# -- reading ------------------------------------------------------------------------------------------------
def _open(path: Path, raw: IO[bytes]) -> tarfile.TarFile:
    head = raw.read(4)
    raw.seek(0)
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:4] == b"\x28\xb5\x2f\xfd":
        raise BundleError("this bundle was compressed after it was written; envrepro reads the .tar it wrote",
                          path=path, hint="decompress it first (gunzip, bunzip2 or zstd -d)")
    try:
        return tarfile.open(fileobj=raw, mode="r:")
    except tarfile.TarError:
        raise BundleError("not an envrepro bundle (not a tar archive, or its first header is damaged)", path=path,
                          hint="make one with `envrepro bundle -m MODEL -o FILE`") from None


def read_manifest(path: str | os.PathLike) -> bytes:
    """The manifest's bytes (the first member), without reading the rest; BundleError if not a bundle."""
    path = Path(path)
    try:
        with open(path, "rb") as raw, _open(path, raw) as tar:
            first = _next(tar, path)
            if first is None or first.name != MANIFEST_NAME or not first.isreg():
                raise BundleError(f"not an envrepro bundle (its first member is not {MANIFEST_NAME})", path=path,
                                  hint="make one with `envrepro bundle -m MODEL -o FILE`")
            if first.size > _MAX_MANIFEST:
                raise BundleError(f"the bundle's manifest is implausibly large ({first.size} bytes)", path=path)
            return _read_member(tar, first, path)
    except OSError as exc:
        raise BundleError(f"cannot read the bundle: {exc.strerror or exc}", path=path) from None


def _next(tar: tarfile.TarFile, path: Path) -> tarfile.TarInfo | None:
    try:
        return tar.next()
    except (tarfile.TarError, EOFError) as exc:
        raise _damaged(path, exc) from None


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path) -> bytes:
    try:
        fh = tar.extractfile(member)
        assert fh is not None
        data = fh.read()
    except (tarfile.TarError, EOFError) as exc:
        raise _damaged(path, exc) from None
    if len(data) != member.size:
        raise _damaged(path, EOFError("unexpected end of data"))
    return data


def _damaged(path: Path, exc: BaseException | str) -> BundleError:
    return BundleError(f"the bundle is damaged or truncated ({exc})", path=path,
                       hint="copy it again from its source; nothing was installed from it")


def _safe_name(name: str) -> bool:
    return (bool(name) and not name.startswith("/") and posixpath.normpath(name) == name
            and ".." not in name.split("/") and "\\" not in name)


def extract_verified(path: str | os.PathLike, dest: Path, files: Mapping[str, tuple[str, int]], *,
                     progress: Callable[[int], None] | None = None) -> None:
    """Extract every member except the manifest and the seal into ``dest``, checking all of it.

    ``files`` maps each member name the manifest lists to its (sha256, size). On any problem a BundleError
    names it; what was already written under ``dest`` is the caller's to discard.
    """
    path = Path(path)
    seen: set[str] = set()
    try:
        with open(path, "rb") as raw, _open(path, raw) as tar:
            first = _next(tar, path)
            if first is None or first.name != MANIFEST_NAME:
                raise BundleError(f"not an envrepro bundle (its first member is not {MANIFEST_NAME})", path=path)
            seal = None
            while (member := _next(tar, path)) is not None:
                if seal is not None:
                    raise _damaged(path, f"{member.name!r} follows the seal")
                if member.name == SEAL_NAME:
                    seal = member
                    continue
                _extract_one(tar, member, path, dest, files, seen, progress)
            missing = sorted(set(files) - seen)
            if missing:
                more = f" (+{len(missing) - 3} more)" if len(missing) > 3 else ""
                raise _damaged(path, f"{len(missing)} file(s) of its manifest are missing: "
                                     f"{', '.join(missing[:3])}{more}")
            if seal is None:
                raise _damaged(path, "it has no seal: it was cut short")
            _check_seal(raw, seal, path)
    except OSError as exc:
        raise BundleError(f"cannot unpack the bundle: {exc.strerror or exc}", path=getattr(exc, "filename", None)
                          or path) from None


def _extract_one(tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path, dest: Path,
                 files: Mapping[str, tuple[str, int]], seen: set[str],
                 progress: Callable[[int], None] | None) -> None:
    name = member.name
    if not member.isreg() or not _safe_name(name):
        raise _damaged(path, f"unexpected member {name!r}")
    if name not in files:
        raise _damaged(path, f"{name!r} is not in its manifest")
    if name in seen:
        raise _damaged(path, f"{name!r} appears twice")
    seen.add(name)
    expected_sha, expected_size = files[name]
    target = dest / name
    target.parent.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256()
    size = 0
    try:
        source = tar.extractfile(member)
        assert source is not None
        with open(target, "wb") as out:
            while chunk := source.read(_CHUNK):
                sha.update(chunk)
                size += len(chunk)
                out.write(chunk)
                if progress is not None:
                    progress(len(chunk))
    except (tarfile.TarError, EOFError) as exc:
        raise _damaged(path, exc) from None
    if member.mode & 0o111:
        os.chmod(target, 0o755)
    if size != expected_size or sha.hexdigest() != expected_sha:
        raise BundleError(f"{name} in the bundle does not match its manifest (sha256 {sha.hexdigest()}, "
                          f"{size} bytes; the manifest says {expected_sha}, {expected_size} bytes)", path=path,
                          hint="the bundle is damaged: copy it again from its source; nothing was installed "
                               "from it")


def _check_seal(raw: IO[bytes], seal: tarfile.TarInfo, path: Path) -> None:
    """The seal covers every byte before its header; its header is the one envrepro writes; only the end-of-
    archive zeros follow, exactly as many as tarfile writes."""
    raw.seek(0)
    sha = hashlib.sha256()
    remaining = seal.offset
    while remaining > 0:
        chunk = raw.read(min(_CHUNK, remaining))
        if not chunk:
            raise _damaged(path, "unexpected end of data")
        sha.update(chunk)
        remaining -= len(chunk)
    expected = _seal_text(sha.hexdigest())
    header = raw.read(tarfile.BLOCKSIZE)
    data = raw.read(seal.size)
    if header != _seal_header(len(expected)) or data != expected:
        raise BundleError("the bundle's bytes do not match its seal (tar headers, padding or the seal itself "
                          "changed)", path=path,
                          hint="the bundle is damaged: copy it again from its source; nothing was installed from it")
    data_end = seal.offset_data + len(expected)
    padded = data_end + (-data_end % tarfile.BLOCKSIZE) + 2 * tarfile.BLOCKSIZE
    total = padded + (-padded % tarfile.RECORDSIZE)
    trailer = raw.read(total - data_end + 1)
    if data_end + len(trailer) != total or trailer.count(0) != len(trailer):
        raise _damaged(path, "its end is not the end tar writes: bytes were cut off or added")
