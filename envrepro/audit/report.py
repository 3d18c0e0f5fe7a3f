"""Rendering an audit: a readable table, or JSON for machines."""

from __future__ import annotations

import json

from .findings import ERROR, WARNING, AuditReport
from .fix import FIXED, RELOCK, WOULD_FIX, FixResult

JSON_VERSION = 1
_HEADERS = ("FILE:LINE", "SEVERITY", "RULE", "MLFLOW", "DETAIL")


def render_table(report: AuditReport) -> str:
    rows = [(f"{f.file}:{f.line}", f.severity, f.rule, f.model.label() if f.model else "-", f.message)
            for f in report.findings]
    lines = []
    if rows:
        widths = [max(len(row[i]) for row in rows + [_HEADERS]) for i in range(len(_HEADERS) - 1)]
        for row in [_HEADERS] + rows:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    lines.append(summary(report))
    pre = {f.model.path for f in report.findings if f.model and f.model.pre_1_18}
    if pre:
        lines.append(f"{len(pre)} flagged model(s) were logged by MLflow older than 1.18, which wrote "
                     "'defaults' into every conda.yaml: re-log them or run `envrepro audit --fix`.")
    return "\n".join(lines) + "\n"


def summary(report: AuditReport) -> str:
    errors = sum(1 for f in report.findings if f.severity == ERROR)
    warnings = sum(1 for f in report.findings if f.severity == WARNING)
    flagged = len(report.flagged_files())
    head = (f"{len(report.findings)} finding(s) ({errors} error(s), {warnings} warning(s)) in {flagged} file(s)"
            if report.findings else "clean: no Anaconda channels found")
    tail = (f"audited {report.files_audited} file(s), {report.models} model(s), {report.dirs} dir(s) "
            f"in {report.seconds:.2f}s")
    unreadable = f"; {len(report.problems)} unreadable" if report.problems else ""
    return f"{head}; {tail}{unreadable}"


def render_notes(report: AuditReport) -> list[str]:
    """Unreadable inputs and skipped directories, one line each (printed on stderr)."""
    return ([f"unreadable: {p.path}: {p.message}" for p in report.problems]
            + [f"skipped: {s.path}: {s.reason}" for s in report.skipped])


def render_fixes(results: list[FixResult], *, dry_run: bool) -> str:
    lines = []
    for result in results:
        if dry_run and result.diff:
            lines.append(result.diff.rstrip("\n"))
        backup = f" (backup: {result.backup})" if result.backup else ""
        lines.append(f"{result.status}: {result.file}: {result.message}{backup}")
    fixed = sum(1 for r in results if r.status in (FIXED, WOULD_FIX))
    relock = sum(1 for r in results if r.status == RELOCK)
    verb = "would fix" if dry_run else "fixed"
    lines.append(f"{verb} {fixed} of {len(results)} flagged file(s)"
                 + (f"; {relock} lock file(s) need a re-lock" if relock else ""))
    return "\n".join(lines) + "\n"


def render_json(report: AuditReport, exit_code: int, fixes: list[FixResult] | None = None,
                *, dry_run: bool = False) -> str:
    data = {
        "version": JSON_VERSION,
        "exit_code": exit_code,
        "summary": {"findings": len(report.findings), "flagged_files": len(report.flagged_files()),
                    "files_audited": report.files_audited, "models": report.models, "dirs": report.dirs,
                    "unreadable": len(report.problems), "seconds": round(report.seconds, 3)},
        "findings": [f.to_json() for f in report.findings],
        "unreadable": [p.to_json() for p in report.problems],
        "skipped": [s.to_json() for s in report.skipped],
    }
    if fixes is not None:
        data["fix"] = {"dry_run": dry_run, "results": [r.to_json() for r in fixes]}
    return json.dumps(data, indent=2) + "\n"
