"""The scan on several cores: the walk stays in this process, model directories are audited in workers.

Each worker audits whole directories and sends back, per directory, the parts the serial scan would have added
(see ``Scanner._add``). They are merged in the walk's order and deduplicated by the file each part audited, so
the report is the serial one: same findings, problems, counts and order, each file audited once.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ..errors import EnvreproError
from .findings import AuditReport, Finding, Problem
from .scan import Scanner

MIN_PARALLEL_DIRS = 200  # fewer directories with files to audit: starting workers costs more than it saves
CHUNK_DIRS = 100         # directories per task: small enough to balance the workers, large enough to amortise IPC

# (key, findings, problems, files audited, models): an AuditReport part as a tuple, which unpickles ten times
# faster than the dataclass (0.18 s of the main process's time for 10,000 models)
Part = tuple[str | None, list[Finding], list[Problem], int, int]
DirWork = tuple[str, dict[str, str]]


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class _Recorder(Scanner):
    """Audits directories in a worker and keeps the parts instead of merging them."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[Part] = []

    def _add(self, part: AuditReport, key: str | None = None) -> None:
        if key is not None or part.problems or part.findings or part.files_audited or part.models:
            self.parts.append(_flat(key, part))


def audit_dirs(chunk: list[DirWork]) -> list[list[Part]]:
    """The parts of each directory of ``chunk``, in order (runs in a worker process)."""
    recorder = _Recorder()
    out = []
    for path, files in chunk:
        recorder.parts = []
        recorder._dir_files(path, files)
        out.append(recorder.parts)
    return out


class ParallelScanner(Scanner):
    """Walks here, audits directories holding files to audit in ``jobs`` worker processes."""

    def __init__(self, jobs: int, min_dirs: int = MIN_PARALLEL_DIRS, chunk_dirs: int = CHUNK_DIRS) -> None:
        super().__init__()
        self._jobs = jobs
        self._min_dirs = min_dirs
        self._chunk_dirs = chunk_dirs
        self._events: list[Part | int] = []  # parts made here, and indexes into _work, in the walk's order
        self._work: list[DirWork] = []
        self._submitted = 0
        self._futures: list[Future] = []
        self._pool: ProcessPoolExecutor | None = None

    def scan(self, paths: Iterable[str | os.PathLike]) -> AuditReport:
        try:
            super().scan(paths)  # walks, records events, submits work; merges nothing yet
        except BrokenProcessPool:  # from submit() during the walk, or from a result in _finish()
            raise EnvreproError("audit: a worker process died (killed, or out of memory); "
                                "re-run with --jobs 1 to scan in one process") from None
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
        return self.report

    def _add(self, part: AuditReport, key: str | None = None) -> None:
        self._events.append(_flat(key, part))

    def _dir_files(self, path: str, files: dict[str, str]) -> None:
        self._events.append(len(self._work))
        self._work.append((path, files))
        if self._pool is None and len(self._work) >= self._min_dirs:
            # fork on Linux: the workers start with everything imported, at no cost to the walk (elsewhere the
            # platform's default, which macOS and Windows chose for safety)
            context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
            self._pool = ProcessPoolExecutor(max_workers=self._jobs, mp_context=context)
        if self._pool is not None:
            self._submit(final=False)

    def _submit(self, *, final: bool) -> None:
        assert self._pool is not None
        while len(self._work) - self._submitted >= (1 if final else self._chunk_dirs):
            chunk = self._work[self._submitted:self._submitted + self._chunk_dirs]
            self._futures.append(self._pool.submit(audit_dirs, chunk))
            self._submitted += len(chunk)

    def _finish(self) -> None:
        """Collect the workers' parts and merge every event in the walk's order."""
        if self._pool is None:
            results = audit_dirs(self._work)  # too few directories to pay for workers
        else:
            self._submit(final=True)
            results = []
            for future in self._futures:
                results.extend(future.result())
        seen: set[str] = set()
        report = self.report
        for event in self._events:
            for key, findings, problems, audited, models in results[event] if isinstance(event, int) else (event,):
                if key is not None:
                    if key in seen:
                        continue  # audited earlier in the walk, as the serial scan's _seen would have skipped it
                    seen.add(key)
                report.findings.extend(findings)
                report.problems.extend(problems)
                report.files_audited += audited
                report.models += models


def _flat(key: str | None, part: AuditReport) -> Part:
    return key, part.findings, part.problems, part.files_audited, part.models


def audit_paths(paths: Iterable[str | os.PathLike], jobs: int = 1) -> AuditReport:
    """Audit files and directory trees; never raises for bad input (it is reported in ``problems``).

    ``jobs`` > 1 audits directories in that many worker processes when there are enough of them.
    """
    return (ParallelScanner(jobs) if jobs > 1 else Scanner()).scan(paths)
