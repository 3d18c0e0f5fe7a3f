"""``--fix``: move flagged conda environment files to another channel (conda-forge by default).

Edits are spliced into the original text at the character spans the YAML parser reports, so every byte
outside the edited lines stays as it was: comments, key order, quoting, indentation, line endings. (A
ruamel.yaml dump would re-indent and re-wrap the rest of the file; splicing cannot.) The result is parsed
again and must mean exactly the intended document before anything is written. Lock files are never
edited: they are reported as needing a re-lock.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import os
import re
from dataclasses import dataclass, field

import yaml

from ..errors import EnvreproError
from ..fsutil import atomic_write_text, locked_dir, open_regular, read_text
from ..model import DEFAULT_CHANNEL
from .channels import classify_channel, is_defaults, replace_spec_channel
from .findings import ENV, AuditReport, Finding
from .rules import Malformed, SafeLoader, compose, env_findings, env_parts, scalar

NODEFAULTS = "nodefaults"

FIXED = "fixed"
WOULD_FIX = "would-fix"
CLEAN = "already-clean"      # nothing left to change (fixed earlier, or through another path)
READ_ONLY = "read-only"
RELOCK = "relock-needed"
UNFIXABLE = "unfixable"
WRITE_ERROR = "write-error"
RESOLVED = frozenset({FIXED, CLEAN})
FAILED = frozenset({WRITE_ERROR})  # input/output failures: exit code 2

_PLAIN_CHANNEL = re.compile(r"^[A-Za-z0-9._/+-]+$")
_ALLOWED_CHANNEL = re.compile(r"^[A-Za-z0-9._/:@+-]+$")
_BLOCK_DASH = re.compile(r"^[ \t]*-[ \t]+$")
_LINE_TAIL = re.compile(r"^[ \t]*(#.*)?$")


class Unfixable(Exception):
    """The file cannot be rewritten safely; the message says why."""


@dataclass
class FixResult:
    file: str
    status: str
    message: str
    backup: str | None = None
    diff: str = ""
    findings: list[Finding] = field(default_factory=list)

    @property
    def resolved(self) -> bool:
        return self.status in RESOLVED

    def to_json(self) -> dict:
        return {"file": self.file, "status": self.status, "message": self.message, "backup": self.backup,
                "diff": self.diff}


def check_target_channel(channel: str) -> str:
    """The ``--channel`` value, validated: a channel name or URL outside Anaconda's repository."""
    channel = channel.strip()
    if not channel or not _ALLOWED_CHANNEL.match(channel) or "::" in channel:
        raise EnvreproError(f"invalid channel {channel!r}", hint="give a channel name or URL, e.g. conda-forge")
    if is_defaults(channel) or classify_channel(channel) is not None or channel.lower() == NODEFAULTS:
        raise EnvreproError(f"--channel {channel!r} would keep the environment on Anaconda's repository",
                            hint="choose a channel such as conda-forge")
    return channel


# -- planning: text in, text out ------------------------------------------------------------------------------

def plan_env_fix(text: str, channel: str = DEFAULT_CHANNEL) -> str:
    """The fixed text of a conda environment file (``text`` itself when nothing needs changing)."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom):]
    try:
        parts = env_parts(compose(body))
    except Malformed as exc:
        raise Unfixable(str(exc)) from None
    if body[parts.root.start_mark.index:parts.root.start_mark.index + 1] == "{":
        raise Unfixable("flow-style top-level mapping ({...}): edit it by hand")
    edits = _channel_edits(body, parts, channel) + _spec_edits(body, parts, channel)
    if not edits:
        return text
    new = _apply(body, edits)
    _verify(body, new, channel)
    return bom + new


def _channel_edits(body: str, parts, channel: str) -> list[tuple[int, int, str]]:
    items = [item for item in parts.channel_items if scalar(item)]
    if parts.has_channels:
        bad = [item for item in items if classify_channel(scalar(item) or "") is not None]
        if not bad:
            return []
        value = parts.channels[1]
        if not isinstance(value, yaml.SequenceNode):  # `channels: defaults`: a string, make it a list
            return [(value.start_mark.index, value.end_mark.index, f"[{_scalar_text(channel)}]")]
        present = any(_same_channel(scalar(item) or "", channel) for item in items)
        if present:
            return _remove_items(body, value, bad)
        # The target takes the first Anaconda channel's place, so the other channels keep their priority.
        return [_replace_scalar(body, bad[0], channel)] + _remove_items(body, value, bad[1:])
    if not parts.dependency_items:
        return []
    flow = f"[{_scalar_text(channel)}, {NODEFAULTS}]"
    if parts.channels is not None:  # `channels:`, `channels: ~`, `channels: []`
        value = parts.channels[1]
        if isinstance(value, yaml.SequenceNode) and value.value:
            raise Unfixable(f"line {value.start_mark.line + 1}: channels list holds no channel names")
        start, end = value.start_mark.index, value.end_mark.index
        prefix = " " if start == end and body[start - 1:start] == ":" else ""
        return [(start, end, prefix + flow)]
    return [_insert_channels(body, parts, channel, flow)]


def _insert_channels(body: str, parts, channel: str, flow: str) -> tuple[int, int, str]:
    """A new ``channels:`` key just above ``dependencies:`` (and above the comment lines that belong to it)."""
    key = parts.dependencies[0]
    start = _line_start(body, key.start_mark.index)
    if body[start:key.start_mark.index].strip():
        raise Unfixable(f"line {key.start_mark.line + 1}: 'dependencies' does not start its line")
    indent = body[start:key.start_mark.index]
    newline = "\r\n" if "\r\n" in body else "\n"
    at = start
    while at > 0:  # comment lines directly above, at the key's indentation, describe `dependencies`
        above = _line_start(body, at - 1)
        if not body[above:at].startswith(indent + "#"):
            break
        at = above
    if at == 0:  # the comments above run up to the top of the file: a header, leave it on top
        at = start
    value = parts.dependencies[1]
    first = value.value[0] if isinstance(value, yaml.SequenceNode) and value.value else None
    dash = None
    if first is not None and body[value.start_mark.index:value.start_mark.index + 1] != "[":
        head = body[_line_start(body, first.start_mark.index):first.start_mark.index]
        dash = head.rfind("-")
    if dash is None or dash < 0:
        text = f"{indent}channels: {flow}{newline}"
    else:
        pad = " " * dash
        text = f"{indent}channels:{newline}{pad}- {_scalar_text(channel)}{newline}{pad}- {NODEFAULTS}{newline}"
    return (at, at, text)


def _spec_edits(body: str, parts, channel: str) -> list[tuple[int, int, str]]:
    edits = []
    for item in parts.dependency_items:
        spec = scalar(item)
        new = replace_spec_channel(spec, channel) if spec else None
        if new is None:
            continue
        start, end = item.start_mark.index, item.end_mark.index
        raw = body[start:end]
        if raw == spec:
            edits.append((start, end, new))
        elif len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"" and raw[1:-1] == spec:
            edits.append((start, end, raw[0] + new + raw[0]))
        else:
            raise Unfixable(f"line {item.start_mark.line + 1}: cannot rewrite {spec!r} in place")
    return edits


def _replace_scalar(body: str, item: yaml.Node, new: str) -> tuple[int, int, str]:
    start, end = item.start_mark.index, item.end_mark.index
    raw = body[start:end]
    text = raw[0] + new + raw[0] if raw[:1] in ("'", '"') and _PLAIN_CHANNEL.match(new) else _scalar_text(new)
    return (start, end, text)


def _remove_items(body: str, seq: yaml.SequenceNode, doomed: list[yaml.Node]) -> list[tuple[int, int, str]]:
    if not doomed:
        return []
    if body[seq.start_mark.index:seq.start_mark.index + 1] == "[":
        return _remove_flow_items(seq, doomed)
    edits = []
    for item in doomed:
        start = _line_start(body, item.start_mark.index)
        end = _line_end(body, item.end_mark.index)
        if not _BLOCK_DASH.match(body[start:item.start_mark.index]) or \
                not _LINE_TAIL.match(body[item.end_mark.index:end].rstrip("\r\n")):
            raise Unfixable(f"line {item.start_mark.line + 1}: channel entry shares its line with other content")
        edits.append((start, end, ""))
    return edits


def _remove_flow_items(seq: yaml.SequenceNode, doomed: list[yaml.Node]) -> list[tuple[int, int, str]]:
    """Drop items of ``[a, b, c]`` with their commas: up to the next item, or from the previous one at the end."""
    items = seq.value
    gone = [any(item is d for d in doomed) for item in items]
    last_kept = max(i for i, g in enumerate(gone) if not g)
    edits = []
    for i, item in enumerate(items):
        if gone[i] and i < last_kept:
            edits.append((item.start_mark.index, items[i + 1].start_mark.index, ""))
    if last_kept < len(items) - 1:  # a trailing run of removed items goes with the comma before it
        edits.append((items[last_kept].end_mark.index, items[-1].end_mark.index, ""))
    return edits


def _apply(body: str, edits: list[tuple[int, int, str]]) -> str:
    edits = sorted(edits, reverse=True)
    for (start, _, _), (_, end, _) in itertools.pairwise(edits):
        if end > start:
            raise Unfixable("overlapping edits")
    for start, end, text in edits:
        body = body[:start] + text + body[end:]
    return body


def _verify(old: str, new: str, channel: str) -> None:
    """The edited text must parse, be clean, and mean the original document with only the intended changes."""
    try:
        leftover = env_findings(env_parts(compose(new)), "", None)
        after = yaml.load(new, Loader=SafeLoader)
        expected = expected_document(yaml.load(old, Loader=SafeLoader), channel)
    except (Malformed, yaml.YAMLError) as exc:
        raise Unfixable(f"the edit would break the file ({exc}); edit it by hand") from None
    if leftover or after != expected:
        raise Unfixable("the edit would not have the intended meaning; edit it by hand")


def expected_document(data: dict, channel: str) -> dict:
    """What a fixed file must load as: the same rules as the text edits, applied to plain data."""
    data = copy.deepcopy(data)
    channels = data.get("channels")
    listed = [channels] if isinstance(channels, str) else channels if isinstance(channels, list) else []
    deps = data.get("dependencies")
    if any(isinstance(c, str) and c for c in listed):
        present = any(isinstance(c, str) and _same_channel(c, channel) for c in listed)
        out, placed = [], present
        for name in listed:
            if isinstance(name, str) and classify_channel(name) is not None:
                if not placed:
                    out.append(channel)
                    placed = True
            else:
                out.append(name)
        data["channels"] = out
    elif isinstance(deps, list) and deps:
        data["channels"] = [channel, NODEFAULTS]
    if isinstance(deps, list):
        data["dependencies"] = [(replace_spec_channel(d, channel) or d) if isinstance(d, str) else d for d in deps]
    return data


def _same_channel(name: str, channel: str) -> bool:
    name, channel = name.strip().rstrip("/").lower(), channel.strip().rstrip("/").lower()
    return name == channel or name.endswith("/" + channel)


def _scalar_text(value: str) -> str:
    return value if _PLAIN_CHANNEL.match(value) else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _line_start(body: str, index: int) -> int:
    return body.rfind("\n", 0, index) + 1


def _line_end(body: str, index: int) -> int:
    """Index just past the newline that ends the line holding ``index`` (or the end of the text)."""
    newline = body.find("\n", index)
    return len(body) if newline < 0 else newline + 1


# -- applying: files on disk ---------------------------------------------------------------------------------

def is_read_only(path: str) -> bool:
    return read_only_reason(path) is not None


def read_only_reason(path: str) -> str | None:
    """Why ``path`` must not be rewritten: no write bit set on the file or on its directory (honoured even for
    root, who could write anyway), or no write access. The rename that replaces the file needs the directory."""
    for what, target in (("the file", path), ("its directory", os.path.dirname(path) or ".")):
        if os.stat(target).st_mode & 0o222 == 0 or not os.access(target, os.W_OK):
            return f"{what} is read-only"
    return None


def fix_env_file(path: str, channel: str = DEFAULT_CHANNEL, *, dry_run: bool = False) -> FixResult:
    real = os.path.realpath(path)  # a symlinked conda.yaml: fix the file it points to, keep the link
    if dry_run:
        return _fix(path, real, channel, dry_run=True)
    try:
        with locked_dir(os.path.dirname(real)):  # no lost update against another --fix or update-pip-requirements
            return _fix(path, real, channel, dry_run=False)
    except EnvreproError as exc:  # an unreadable journal of an interrupted update in that directory
        return FixResult(path, WRITE_ERROR, exc.format())
    except OSError as exc:
        return FixResult(path, WRITE_ERROR, f"cannot lock its directory: {exc.strerror or exc}")


def _fix(path: str, real: str, channel: str, *, dry_run: bool) -> FixResult:
    try:
        text = read_text(real, what="")
    except EnvreproError as exc:
        return FixResult(path, WRITE_ERROR, exc.message)
    try:
        new = plan_env_fix(text, channel)
    except Unfixable as exc:
        return FixResult(path, UNFIXABLE, f"not fixed: {exc}")
    if new == text:
        return FixResult(path, CLEAN, "nothing left to fix")
    diff = "".join(difflib.unified_diff(text.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=path, tofile=path))
    read_only = read_only_reason(real)
    if dry_run:
        note = f" (but {read_only}: a real run could not write it)" if read_only else ""
        return FixResult(path, WOULD_FIX, f"would move to {channel}{note}", diff=diff)
    if read_only:
        return FixResult(path, READ_ONLY, f"not fixed: {read_only} (make it writable and run again)", diff=diff)
    try:
        backup = _backup(real, text)
        atomic_write_text(real, new)  # keeps the file's owner, group and mode
    except PermissionError as exc:
        return FixResult(path, READ_ONLY, f"not fixed: cannot write ({exc.strerror})", diff=diff)
    except OSError as exc:
        return FixResult(path, WRITE_ERROR, f"cannot write: {exc}", diff=diff)
    return FixResult(path, FIXED, f"moved to {channel}", backup=backup, diff=diff)


def _backup(real: str, text: str) -> str:
    """``<file>.bak`` holding the original (its owner, group and mode); an existing different backup is never
    overwritten (``.bak.N``)."""
    base = real + ".bak"
    for number in range(1000):
        candidate = base if number == 0 else f"{base}.{number}"
        if not os.path.lexists(candidate):
            atomic_write_text(candidate, text, like=real)
            return candidate
        try:
            with open_regular(candidate, what="") as fh:
                if fh.read().decode("utf-8") == text:
                    return candidate
        except (EnvreproError, OSError, UnicodeDecodeError):
            continue
    raise OSError(f"too many backups of {real}")


def fix_report(report: AuditReport, channel: str = DEFAULT_CHANNEL, *, dry_run: bool = False) -> list[FixResult]:
    """One result per flagged file: env files are fixed (or previewed), lock files need a re-lock."""
    channel = check_target_channel(channel)
    results = []
    for path, findings in report.flagged_files().items():
        if all(f.kind == ENV for f in findings):
            result = fix_env_file(path, channel, dry_run=dry_run)
        else:
            result = FixResult(path, RELOCK, "lock file: never edited; re-lock it from a fixed environment file "
                                             f"(channel {channel})")
        result.findings = findings
        results.append(result)
    return results


def exit_code_after_fix(report: AuditReport, results: list[FixResult]) -> int:
    """2 on unreadable input or a failed write, 1 while any flagged file is not fixed, 0 when all are."""
    if report.problems or any(r.status in FAILED for r in results):
        return 2
    resolved = {r.file for r in results if r.resolved}
    return 1 if any(f.file not in resolved for f in report.findings) else 0
