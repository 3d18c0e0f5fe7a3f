"""Files on disk: bounded reads, atomic writes that keep ownership, locked and journaled multi-file updates.

Nothing on disk is ever left half-written, and nothing is read without a bound: a model directory may come
from anyone (see docs/security.md).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from .errors import EnvreproError, ModelFormatError

# The largest file envrepro reads whole (MLmodel, env files, requirements, lock files, input examples).
MAX_READ_BYTES = 64 * 1024 * 1024
JOURNAL = ".envrepro-journal.json"  # renames still to do after an interrupted multi-file update

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no directory locks (see locked_dir)
    fcntl = None  # type: ignore[assignment]


# -- reading ------------------------------------------------------------------------------------------------

def is_inside(root: str | os.PathLike, path: str | os.PathLike) -> bool:
    """Whether ``path`` (relative paths are taken relative to ``root``) is ``root`` or under it, symlinks
    resolved. A symlink loop resolves to some path; opening it later fails with its own error."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(root, path))
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _check_inside(path: Path, root: str | os.PathLike | None, what: str, error: type[EnvreproError]) -> None:
    if root is not None and not is_inside(root, path):
        raise error(f"{what or 'the file'} is outside the model directory {os.fspath(root)}", path=path,
                    hint="a model's files must stay inside its directory")


@contextlib.contextmanager
def open_regular(path: str | os.PathLike, *, what: str = "file", root: str | os.PathLike | None = None,
                 limit: int = MAX_READ_BYTES, error: type[EnvreproError] = ModelFormatError) -> Iterator[BinaryIO]:
    """Open a regular file of at most ``limit`` bytes (inside ``root`` when given) for reading.

    FIFOs, devices and directories are refused without being read (a FIFO is opened non-blocking, so it
    cannot hang the reader). Every failure is ``error`` naming ``path`` and ``what`` it is.
    """
    path = Path(path)
    cannot = f"cannot read {what}" if what else "cannot read"  # what="": the caller names the file itself
    _check_inside(path, root, what, error)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise error(f"{what} not found" if what else f"{cannot}: not found", path=path) from None
    except OSError as exc:
        raise error(f"{cannot}: {exc.strerror or exc}", path=path) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
        os.close(fd)
        if stat.S_ISREG(st.st_mode):
            raise error(f"{cannot}: larger than {limit // (1024 * 1024)} MiB", path=path)
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file (a FIFO, socket or device)"
        raise error(f"{cannot}: it is {kind}", path=path)
    with os.fdopen(fd, "rb") as fh:
        yield fh


def read_up_to(fh: BinaryIO, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of ``fh`` (more than ``limit``: the file grew past it since it was checked).

    ``read(n)`` allocates n bytes up front, so asking for the bound itself (64 MiB) cost ~15 us per small file;
    ask for the size fstat gives and read on only if the file grew.
    """
    size = os.fstat(fh.fileno()).st_size
    data = fh.read(min(size, limit) + 1)
    if len(data) > size:
        data += fh.read(limit + 1 - len(data))
    return data


def largest_first(paths: Sequence[str | os.PathLike | None]) -> list[int]:
    """Indexes of ``paths``, the biggest file first (a missing one counts as empty): scheduling CPU-bound work
    on files this way starts the longest job at once, so it does not finish last on its own."""
    def size(path: str | os.PathLike | None) -> int:
        try:
            return os.stat(path).st_size if path is not None else 0
        except OSError:
            return 0

    sizes = [size(p) for p in paths]
    return sorted(range(len(paths)), key=lambda i: -sizes[i])


def file_digest(path: str | os.PathLike, kind: str = "sha256") -> str:
    """The hex digest of a file's bytes (``kind``: a hashlib name), read in 1 MiB chunks (packages are big)."""
    digest = hashlib.new(kind)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_bytes(path: str | os.PathLike, *, what: str = "file", root: str | os.PathLike | None = None,
               limit: int = MAX_READ_BYTES, error: type[EnvreproError] = ModelFormatError) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (see :func:`open_regular`)."""
    with open_regular(path, what=what, root=root, limit=limit, error=error) as fh:
        try:
            data = read_up_to(fh, limit)  # the file may have grown since fstat
        except OSError as exc:
            raise error(f"cannot read {what}: {exc.strerror or exc}", path=path) from None
    if len(data) > limit:
        raise error(f"cannot read {what}: larger than {limit // (1024 * 1024)} MiB", path=path)
    return data


def read_text(path: str | os.PathLike, *, what: str = "file", root: str | os.PathLike | None = None,
              limit: int = MAX_READ_BYTES, error: type[EnvreproError] = ModelFormatError) -> str:
    """:func:`read_bytes` decoded as UTF-8 (line endings as they are)."""
    data = read_bytes(path, what=what, root=root, limit=limit, error=error)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"cannot read {what}: not UTF-8 text ({exc.reason} at byte {exc.start})", path=path) from None


def check_file(path: str | os.PathLike, *, what: str = "file", root: str | os.PathLike | None = None,
               limit: int = MAX_READ_BYTES, error: type[EnvreproError] = ModelFormatError) -> None:
    """What :func:`read_bytes` checks, for a file another process reads (a worker in the model's env)."""
    path = Path(path)
    _check_inside(path, root, what, error)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return  # the reader says it is missing, in its own words
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}", path=path) from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"cannot read {what}: it is not a regular file", path=path)
    if st.st_size > limit:
        raise error(f"cannot read {what}: larger than {limit // (1024 * 1024)} MiB", path=path)


# -- writing ------------------------------------------------------------------------------------------------

def atomic_write_text(path: str | os.PathLike, text: str, *, like: str | os.PathLike | None = None) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory, then rename.

    ``like``: a file whose owner, group and mode the new one gets (by default: those of ``path``).
    """
    atomic_write_files({path: text}, like={path: like} if like is not None else None)


def check_writable_dir(directory: str | os.PathLike) -> None:
    """PermissionError for a directory without any write bit (honoured even for root) or not writable."""
    if os.stat(directory).st_mode & 0o222 == 0 or not os.access(directory, os.W_OK):
        raise PermissionError(errno.EACCES, "the directory is read-only", os.fspath(directory))


def atomic_write_files(files: Mapping[str | os.PathLike[str], str] | Mapping[Path, str], *,
                       journal: str | os.PathLike | None = None,
                       like: dict[str | os.PathLike, str | os.PathLike] | None = None) -> None:
    """Write several files so that either all new versions land or none do.

    Every file is first written to a temporary sibling with the owner, group and mode of the file it
    replaces (new files get the umask's mode); only when all writes succeeded are they renamed into place,
    so a failure while writing (bad disk, permission) leaves the old set untouched. A directory without
    write permission is refused (PermissionError), even for root.

    With ``journal`` (a directory holding every target, locked with :func:`locked_dir`), the renames are
    listed there first: a process killed between two renames leaves the journal, and the next
    :func:`locked_dir` on that directory finishes them (:func:`replay_journal`).
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for target_key, text in files.items():
            target_path = Path(target_key)
            check_writable_dir(target_path.parent)
            fd, tmp = tempfile.mkstemp(prefix=f".{target_path.name}.", suffix=".tmp", dir=target_path.parent)
            staged.append((Path(tmp), target_path))
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            _keep_attributes(Path(tmp), Path((like or {}).get(target_key, target_path)))
        if journal is not None and len(staged) > 1:
            _write_journal(Path(journal), staged)
    except BaseException:
        for staged_tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(staged_tmp)
        raise
    for tmp_path, final in staged:
        os.replace(tmp_path, final)
    if journal is not None and len(staged) > 1:
        os.unlink(Path(journal) / JOURNAL)
        _fsync_dir(Path(journal))


def _keep_attributes(tmp: Path, target: Path) -> None:
    """The replacement keeps the owner, group and mode of ``target``: a rewrite by root must not take a file
    away from its owner. PermissionError when they cannot be kept (another user's file, not root)."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        os.chmod(tmp, 0o666 & ~_umask())  # as open() would create it (mkstemp makes 0600)
        return
    own = os.stat(tmp)
    if hasattr(os, "chown") and (own.st_uid, own.st_gid) != (st.st_uid, st.st_gid):
        os.chown(tmp, st.st_uid, st.st_gid)
    os.chmod(tmp, stat.S_IMODE(st.st_mode))  # after chown, which clears set-id bits


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no /proc: read it the only other way, and put it back
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -- locked, journaled updates of one directory ---------------------------------------------------------------

@contextlib.contextmanager
def locked_dir(directory: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on ``directory`` for a read-modify-write of its files; finish a journaled
    update that was interrupted (see :func:`atomic_write_files`) first.

    The lock is an ``flock`` on the directory itself: no lock file is left in it, and a read-only directory
    can be locked too (its update then fails with one line). The kernel drops it when the holder dies.
    Windows has no directory locks: there, concurrent updates are not serialized.
    """
    directory = Path(directory)
    if fcntl is None:  # pragma: no cover - Windows cannot open a directory to lock it
        replay_journal(directory)
        yield directory
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        replay_journal(directory)
        yield directory
    finally:
        os.close(fd)  # releases the lock


def _write_journal(directory: Path, staged: list[tuple[Path, Path]]) -> None:
    renames = [[os.path.relpath(tmp, directory), os.path.relpath(target, directory)] for tmp, target in staged]
    fd, tmp = tempfile.mkstemp(prefix=f"{JOURNAL}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"format": 1, "pid": os.getpid(), "renames": renames}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, directory / JOURNAL)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def replay_journal(directory: str | os.PathLike) -> list[str]:
    """Finish the renames of an interrupted journaled update of ``directory`` (the staged files are complete:
    they were fsynced before the journal was written). Returns the files renamed. Call with the lock held."""
    directory = Path(directory)
    path = directory / JOURNAL
    if not os.path.lexists(path):
        return []
    what = "journal of an interrupted update"
    try:
        record = json.loads(read_text(path, what=what, root=directory, limit=1024 * 1024))
        renames = [(str(tmp), str(target)) for tmp, target in record["renames"]]
    except (ValueError, KeyError, TypeError):
        raise ModelFormatError(f"malformed {what}", path=path,
                               hint="envrepro did not write it: remove it if no update was interrupted") from None
    for tmp, target in renames:
        # Only our own temporary siblings, only inside the directory: the journal is untrusted input too.
        pair_ok = (os.path.dirname(tmp) == os.path.dirname(target)
                   and os.path.basename(tmp).startswith(f".{os.path.basename(target)}.") and tmp.endswith(".tmp")
                   and not os.path.isabs(tmp) and is_inside(directory, tmp) and is_inside(directory, target))
        if not pair_ok:
            raise ModelFormatError(f"malformed {what}: it renames {tmp!r} to {target!r}", path=path,
                                   hint="envrepro did not write it: remove it if no update was interrupted")
    done = []
    for tmp, target in renames:
        if os.path.lexists(directory / tmp):
            os.replace(directory / tmp, directory / target)
            done.append(target)
    os.unlink(path)
    _fsync_dir(directory)
    return done


# -- staging directories ------------------------------------------------------------------------------------

_STAGING = re.compile(r"^\..+\.(\d+)\.[a-z0-9_]{8}\.partial$|^\..+\.old-(\d+)$")


@contextlib.contextmanager
def staging_dir(final: str | os.PathLike, *, replace: bool = True, exclusive: bool = False) -> Iterator[Path]:
    """Yield a temporary directory next to ``final``; rename it to ``final`` when the block succeeds.

    On any error the temporary directory is removed, so ``final`` either does not exist or is complete.
    With ``replace=False`` an existing ``final`` (e.g. built meanwhile by another process) is kept and
    the new copy discarded. With ``exclusive=True`` a ``final`` that appeared meanwhile (another process
    finished first) is never replaced: the new copy is discarded, with an EnvreproError.

    The temporary directory's name carries the creating process's id: staging directories left by a
    process that died (SIGKILL, power loss) are removed the next time anything is staged in that parent.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(final.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}.", suffix=".partial", dir=final.parent))
    try:
        yield tmp
        if exclusive:
            try:
                os.rename(tmp, final)  # never replaces a non-empty directory or a file
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                    raise EnvreproError("was created by another process while this one was writing it: nothing "
                                        "was written", path=final, hint="choose a new path") from None
                raise
        elif not final.exists():
            try:
                os.rename(tmp, final)
            except OSError:
                if replace or not final.exists():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
        elif replace:
            _replace_dir(tmp, final)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def clean_stale_staging(parent: str | os.PathLike) -> list[Path]:
    """Remove the staging directories in ``parent`` whose creating process is gone. Returns them."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(os.fspath(parent)))
    except OSError:
        return removed
    for entry in entries:
        match = _STAGING.match(entry.name)
        if match is None or not entry.is_dir(follow_symlinks=False):
            continue
        if not process_alive(int(match.group(1) or match.group(2))):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def _replace_dir(tmp: Path, final: Path) -> None:
    # os.replace cannot overwrite a non-empty directory: move the old one aside first.
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        os.replace(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)
