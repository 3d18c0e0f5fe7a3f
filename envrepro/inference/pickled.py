"""What a model's pickle names, read without unpickling it: the (module, name) of every global it refers to.

A pickle refers to every class and function it needs by module and name (the GLOBAL, INST and STACK_GLOBAL
opcodes): ``sklearn.linear_model._logistic LogisticRegression``, ``numpy._core.multiarray _reconstruct``.
Unpickling imports exactly those modules, so they are the artifact's own statement of what it needs. The
stream is walked opcode by opcode (``pickletools``' table), skipping over byte payloads (array data) without
reading them into memory; only the strings that name a global are kept. Nothing is executed.

Names that the stream does not spell out make it unreadable this way: a global named by computed strings, or
by the copyreg extension registry (EXT1/2/4).
"""

from __future__ import annotations

import _compat_pickle
import io
import pickletools
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

_MAX_NAME = 512  # longer strings never name a module or a global: skipped like byte payloads
_STRING_OPS = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING",
                         "BINSTRING", "STRING"})
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_SILENT_OPS = frozenset({"FRAME", "PROTO", "MEMOIZE", *_PUT_OPS})  # they push nothing
_LENGTHS = {pickletools.TAKEN_FROM_ARGUMENT1: ("<B", 1), pickletools.TAKEN_FROM_ARGUMENT4: ("<i", 4),
            pickletools.TAKEN_FROM_ARGUMENT4U: ("<I", 4), pickletools.TAKEN_FROM_ARGUMENT8U: ("<Q", 8)}
_INTS = {1: "<B", 2: "<H", 4: "<i"}
_OPS = {op.code.encode("latin-1"): op for op in pickletools.opcodes}


@dataclass
class PickleNames:
    globals: list[tuple[str, str]] = field(default_factory=list)  # (module, name), first appearance first
    unreadable: str | None = None                                  # why the names are not all known

    def modules(self) -> list[str]:
        return list(dict.fromkeys(module for module, _ in self.globals))


class _Unreadable(Exception):
    pass


def _read(fh: IO[bytes], n: int) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise _Unreadable("the pickle ends early")
    return data


def _skip(fh: IO[bytes], n: int) -> None:
    if fh.seekable():
        fh.seek(n, io.SEEK_CUR)
    else:
        while n > 0:
            n -= len(_read(fh, min(n, 1 << 20)))


def _line(fh: IO[bytes]) -> bytes | None:
    """A text opcode's argument; None when longer than any name (the rest of the line is skipped)."""
    line = fh.readline(_MAX_NAME * 4)
    if line.endswith(b"\n"):
        return line[:-1]
    while line and not line.endswith(b"\n"):
        line = fh.readline(1 << 20)
    if not line:
        raise _Unreadable("the pickle ends early")
    return None


def _name_line(fh: IO[bytes]) -> str:
    line = _line(fh)
    if line is None:
        raise _Unreadable("a global's name is too long")
    return line.decode("utf-8", "replace")


def _decode(op: str, raw: bytes) -> str:
    if op == "STRING":  # protocol 0: a quoted Python literal
        raw = raw[1:-1]
    return raw.decode("utf-8" if "UNICODE" in op else "latin-1", errors="replace")


def _ops(fh: IO[bytes]) -> Iterator[tuple[str, object]]:
    """(opcode name, argument) of one pickle; string arguments longer than _MAX_NAME and bytes come as None."""
    while True:
        code = fh.read(1)
        if not code:
            raise _Unreadable("the pickle ends without STOP")
        op = _OPS.get(code)
        if op is None:
            raise _Unreadable(f"not a pickle (opcode {code!r})")
        name, arg = op.name, op.arg
        if name in ("GLOBAL", "INST"):
            yield name, (_name_line(fh), _name_line(fh))
            continue
        if arg is None:
            yield name, None
            if name == "STOP":
                return
            continue
        if arg.n == pickletools.UP_TO_NEWLINE:
            raw = _line(fh)
            if name in _GET_OPS | _PUT_OPS:
                yield name, int(raw) if raw is not None else -1
            else:
                yield name, _decode(name, raw) if name in _STRING_OPS and raw is not None else None
        elif arg.n in _LENGTHS:
            fmt, size = _LENGTHS[arg.n]
            length = struct.unpack(fmt, _read(fh, size))[0]
            if name in _STRING_OPS and 0 <= length <= _MAX_NAME:
                yield name, _decode(name, _read(fh, length))
            else:
                _skip(fh, length)
                yield name, None
        else:
            raw = _read(fh, arg.n)
            yield name, struct.unpack(_INTS[arg.n], raw)[0] if name in _GET_OPS | _PUT_OPS else None


def scan_stream(fh: IO[bytes]) -> PickleNames:
    """The globals one pickle names (the stream is left after its STOP)."""
    found = PickleNames()
    seen: set[tuple[str, str]] = set()
    memo: dict[int, str] = {}  # memo index -> string (only strings matter: they name STACK_GLOBAL's operands)
    memo_len = 0
    last: list[object] = [None, None]  # the two values pushed last (None: not a known string)

    def add(module: str, name: str) -> None:
        # Python 2 names (protocols 0-2 written by Python 2): the unpickler maps them, so do we.
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) not in seen:
            seen.add((module, name))
            found.globals.append((module, name))

    try:
        for name, arg in _ops(fh):
            if name in _STRING_OPS:
                last = [last[1], arg]
            elif name in _GET_OPS:
                last = [last[1], memo.get(arg)]  # type: ignore[call-overload]
            elif name == "MEMOIZE":
                if isinstance(last[1], str):
                    memo[memo_len] = last[1]
                memo_len += 1
            elif name in _PUT_OPS:
                index = arg if isinstance(arg, int) else -1
                if isinstance(last[1], str):
                    memo[index] = last[1]
                else:
                    memo.pop(index, None)
            elif name == "STACK_GLOBAL":
                module, qualname = last
                if not (isinstance(module, str) and isinstance(qualname, str)):
                    raise _Unreadable("a global is named by computed strings")
                add(module, qualname)
                last = [last[1], None]
            elif name in ("GLOBAL", "INST"):
                module, qualname = cast("tuple[str, str]", arg)
                add(module, qualname)
                last = [last[1], None]
            elif name in ("EXT1", "EXT2", "EXT4"):
                raise _Unreadable("a global is named through the copyreg extension registry")
            elif name not in _SILENT_OPS:
                last = [last[1], None]
    except _Unreadable as exc:
        found.unreadable = str(exc)
    except (struct.error, ValueError, OSError) as exc:
        found.unreadable = f"unreadable pickle ({exc})"
    return found


def scan_artifact(path: Path) -> PickleNames:
    """The globals of a pickle file, or of every ``data.pkl`` in a zip (``torch.save``'s format)."""
    try:
        if zipfile.is_zipfile(path):
            names = PickleNames()
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.namelist() if m == "data.pkl" or m.endswith("/data.pkl")]
                if not members:
                    return PickleNames(unreadable=f"{path.name} is a zip archive without a data.pkl")
                for member in members:
                    with archive.open(member) as fh:
                        part = scan_stream(fh)
                    names.globals += [g for g in part.globals if g not in names.globals]
                    names.unreadable = names.unreadable or part.unreadable
            return names
        with open(path, "rb") as fh:
            names = scan_stream(fh)
            if not names.unreadable and fh.read(1):
                # torch's legacy format, joblib: several pickles and raw data in one file
                names.unreadable = f"{path.name} holds more than one pickle"
            return names
    except (OSError, zipfile.BadZipFile) as exc:
        return PickleNames(unreadable=f"cannot read {path.name} ({exc})")
