"""``envrepro audit``: report (and fix) conda environments that use Anaconda's ``defaults`` channels."""

from __future__ import annotations

import sys

import click

from ..errors import EnvreproError
from ..model import DEFAULT_CHANNEL


@click.command("audit")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--fix", is_flag=True, help="Rewrite flagged conda env files to another channel (backup kept).")
@click.option("--channel", metavar="NAME", default=None,
              help=f"Channel that replaces Anaconda's with --fix (default: {DEFAULT_CHANNEL}).")
@click.option("--dry-run", is_flag=True, help="Show what --fix would change as a unified diff; write nothing.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, metavar="N",
              help="Worker processes for large trees (default: one per CPU; 1 scans in this process).")
def audit(paths: tuple[str, ...], as_json: bool, fix: bool, channel: str | None, dry_run: bool,
          jobs: int | None) -> None:
    """Find conda.yaml/environment.yml files, MLflow models (mlruns/ trees too) and conda lock files
    that use Anaconda's repository: an explicit `defaults`, no channels at all, `main`/`r`/`anaconda`/
    repo.anaconda.com channels, `defaults::pkg` specs, and locked package URLs.

    Exit code: 0 clean, 1 something flagged (or left unfixed), 2 unreadable input (reported; the scan
    goes on). Nothing from a model is ever imported or unpickled.
    """
    # Imported here so other commands do not pay for the audit's parser at start-up.
    from ..audit import audit_paths, check_target_channel, exit_code_after_fix, fix_report
    from ..audit.parallel import default_jobs
    from ..audit.report import render_fixes, render_json, render_notes, render_table

    if channel is not None and not (fix or dry_run):
        raise click.UsageError("--channel only applies with --fix")
    fixing = fix or dry_run  # --dry-run alone previews the fix
    try:
        target = check_target_channel(channel or DEFAULT_CHANNEL)
        report = audit_paths(paths or (".",), jobs=jobs or default_jobs())
        results = fix_report(report, target, dry_run=dry_run) if fixing else None
    except EnvreproError as exc:
        click.echo(f"error: {exc.format()}", err=True)
        sys.exit(exc.exit_code)
    code = exit_code_after_fix(report, results) if results is not None else report.exit_code
    if as_json:
        click.echo(render_json(report, code, results, dry_run=dry_run), nl=False)
    else:
        click.echo(render_table(report), nl=False)
        if results is not None:
            click.echo(render_fixes(results, dry_run=dry_run), nl=False)
    for note in render_notes(report):
        click.echo(note, err=True)
    sys.exit(code)

