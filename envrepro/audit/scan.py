"""Walk directories and audit every conda environment, MLmodel and lock file found.

Speed comes from touching little: one ``os.scandir`` per directory, files chosen by name, YAML composed
by libyaml (no objects constructed, nothing imported or unpickled). Symlinked directories are followed
once: each directory is keyed by ``(st_dev, st_ino)``, so a symlink loop ends the descent instead of the scan.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterable
from dataclasses import replace

import yaml

from ..errors import EnvreproError
from ..fsutil import MAX_READ_BYTES, is_inside, open_regular, read_up_to
from .findings import AuditReport, ModelInfo, Problem, Skipped
from .rules import (
    Malformed,
    compose,
    conda_lock_findings,
    env_findings,
    env_parts,
    explicit_findings,
    get,
    mlflow_pin,
    scalar,
    value,
)

MLMODEL = "MLmodel"
ENV = "env"
CONDA_LOCK = "conda-lock"
EXPLICIT = "explicit"
ENV_NAMES = frozenset({"conda.yaml", "conda.yml", "environment.yaml", "environment.yml"})
CONDA_LOCK_NAMES = frozenset({"conda-lock.yml", "conda-lock.yaml"})
# Lock files of other ecosystems end in .lock too: never read them.
FOREIGN_LOCKS = frozenset({"poetry.lock", "uv.lock", "pdm.lock", "pipfile.lock", "yarn.lock", "cargo.lock",
                           "gemfile.lock", "composer.lock", "flake.lock", "pixi.lock", "bun.lock", "mix.lock"})
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".tox", ".nox", ".mypy_cache",
                       ".pytest_cache", ".ruff_cache"})
_SNIFF_BYTES = 65536


@functools.lru_cache(maxsize=4096)  # an mlruns tree repeats a handful of names (meta.yaml, MLmodel) 10,000 times
def kind_of(name: str) -> str | None:
    """Which audit a file gets, judged from its name alone (``explicit`` ones are confirmed by content)."""
    if name == MLMODEL:
        return MLMODEL
    if name in ENV_NAMES:
        return ENV
    if name in CONDA_LOCK_NAMES or name.endswith((".conda-lock.yml", ".conda-lock.yaml")):
        return CONDA_LOCK
    lower = name.lower()
    if lower.endswith(".lock") and lower not in FOREIGN_LOCKS:
        return EXPLICIT
    if lower.endswith(".txt") and ("explicit" in lower or lower.startswith("spec")):
        return EXPLICIT
    return None


def mlmodel_env_files(root: yaml.Node | None) -> list[str]:
    """Conda env files an MLmodel names: ``env: conda.yaml`` (MLflow < 2) or ``env: {conda: ...}``."""
    env = value(value(value(root, "flavors"), "python_function"), "env")
    if env is None:
        return []
    named = scalar(env) or scalar(value(env, "conda"))  # old MLflow: `env: conda.yaml`; newer: `env: {conda: ...}`
    return [named] if named else []


class Scanner:
    """The serial scan; :class:`ParallelScanner` (parallel.py) hands model directories to worker processes.

    Everything a scan learns goes through :meth:`_add` as a *part* (what one step adds to the report), keyed by
    the file it audited or marked seen, so parts made in other processes merge into the same report.
    """

    def __init__(self) -> None:
        self.report = AuditReport()
        self._dirs: dict[tuple[int, int], str] = {}
        self._seen: set[str] = set()

    def _add(self, part: AuditReport, key: str | None = None) -> None:
        """Merge one part (``key``: the file it audited or marked seen, already in ``_seen`` here)."""
        merge_part(self.report, part)

    # -- entry points --------------------------------------------------------------------------------------

    def scan(self, paths: Iterable[str | os.PathLike]) -> AuditReport:
        started = time.perf_counter()
        for raw in paths:
            path = os.fspath(raw)
            try:
                st = os.stat(path)
            except OSError as exc:
                self._problem(path, f"cannot read: {exc.strerror or exc}")
                continue
            if os.path.isdir(path):
                self._walk(path, st)
            else:
                self._named_file(path)
        self._finish()
        self.report.seconds = time.perf_counter() - started
        self.report.sort()
        return self.report

    def _finish(self) -> None:
        """Called after the walk (the parallel scan merges its workers' parts here)."""

    def _named_file(self, path: str) -> None:
        """A file given on the command line: audited whatever its name, its kind sniffed when needed."""
        name = os.path.basename(path)
        kind = kind_of(name)
        if kind == MLMODEL:
            self._model_dir(os.path.dirname(path) or ".", {})
            return
        if kind is None:
            text = self._read(path)
            if text is None:
                return
            kind = EXPLICIT if "@EXPLICIT" in text else ENV
            if kind == ENV:
                try:
                    root = compose(text)
                except Malformed:
                    root = None
                if isinstance(root, yaml.MappingNode) and get(root, "package") and get(root, "metadata"):
                    kind = CONDA_LOCK
        self._audit(path, kind, None)

    # -- walking ------------------------------------------------------------------------------------------

    def _walk(self, root: str, st: os.stat_result) -> None:
        self._dirs[(st.st_dev, st.st_ino)] = root
        stack = [root]
        # Symlinked directories wait until the real tree is done, so files are reported under their real
        # paths when the link points inside the tree.
        links: list[tuple[str, os.DirEntry]] = []
        while stack or links:
            if not stack:
                self._descend(*links.pop(0), stack)
                continue
            path = stack.pop()
            try:
                with os.scandir(path) as it:
                    entries = list(it)
            except OSError as exc:
                self._problem(path, f"cannot list directory: {exc.strerror or exc}")
                continue
            self.report.dirs += 1
            files: dict[str, str] = {}
            subdirs = []
            for entry in entries:
                name = entry.name
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                if is_dir:
                    if name not in SKIP_DIRS:
                        subdirs.append(entry)
                elif (kind := kind_of(name)) is not None:
                    files[name] = kind
            if files:
                self._dir_files(path, files)
            for entry in sorted(subdirs, key=lambda e: e.name, reverse=True):
                if entry.is_symlink():
                    links.append((path, entry))
                else:
                    self._descend(path, entry, stack)

    def _descend(self, parent: str, entry: os.DirEntry, stack: list[str]) -> None:
        try:
            st = entry.stat()
        except OSError as exc:
            self._problem(entry.path, f"cannot read: {exc.strerror or exc}")
            return
        key = (st.st_dev, st.st_ino)
        first = self._dirs.get(key)
        if first is None:
            self._dirs[key] = entry.path
            stack.append(entry.path)
            return
        target = os.path.realpath(entry.path)
        here = os.path.realpath(parent)
        if here == target or here.startswith(target.rstrip(os.sep) + os.sep):
            reason = f"symlink loop: points back to {os.path.normpath(first)}"
        else:
            reason = f"already scanned as {os.path.normpath(first)}"
        self.report.skipped.append(Skipped(os.path.normpath(entry.path), reason))

    def _dir_files(self, path: str, files: dict[str, str]) -> None:
        if MLMODEL in files:
            self._model_dir(path, files)
            return
        for name, kind in files.items():
            self._audit(os.path.join(path, name), kind, None)

    def _model_dir(self, path: str, files: dict[str, str]) -> None:
        """A directory holding an MLmodel: its env files get the model's MLflow version."""
        mlmodel = os.path.join(path, MLMODEL)
        model: ModelInfo | None = None
        referenced: list[str] = []
        part = AuditReport()
        text = self._read(mlmodel, part)
        if text is not None:
            part.models += 1
            try:
                root = compose(text)
                if not isinstance(root, yaml.MappingNode):
                    raise Malformed("not an MLmodel file: expected a mapping at the top level")
            except Malformed as exc:
                self._problem(mlmodel, str(exc), part)
            else:
                model = ModelInfo(os.path.normpath(path), scalar(value(root, "mlflow_version")))
                if model.mlflow_version is not None:
                    model = replace(model, version_source="MLmodel")
                referenced = mlmodel_env_files(root)
        self._add(part)
        for ref in referenced:
            target = os.path.join(path, ref)
            if not (_entry_of(path, ref) or is_inside(path, ref)):  # never audited, so never "fixed"
                self._problem(mlmodel, f"names the conda env file {ref!r}, which is outside the model directory "
                                       "(symlinks followed): not audited")
                self._mark_seen(target)
                continue
            if not os.path.lexists(target):
                self._problem(target, "the model's MLmodel names this conda env file, which does not exist")
                self._mark_seen(target)
                continue
            self._audit(target, ENV, model)
        for name, kind in files.items():
            if kind != MLMODEL:
                self._audit(os.path.join(path, name), kind, model)

    # -- auditing one file ----------------------------------------------------------------------------------

    def _audit(self, path: str, kind: str, model: ModelInfo | None) -> None:
        path = os.path.normpath(path)
        if path in self._seen:
            return
        self._seen.add(path)
        part = AuditReport()
        text = self._read(path, part, sniff="@EXPLICIT" if kind == EXPLICIT else None)
        if text is not None:
            self._audit_text(path, kind, model, text, part)
        self._add(part, path)

    def _audit_text(self, path: str, kind: str, model: ModelInfo | None, text: str, part: AuditReport) -> None:
        try:
            if kind == ENV:
                parts = env_parts(compose(text))
                if model is not None and model.mlflow_version is None:
                    pin = mlflow_pin(parts)
                    if pin:
                        model = replace(model, mlflow_version=pin, version_source="conda.yaml pin")
                found = env_findings(parts, path, model)
            elif kind == CONDA_LOCK:
                found = conda_lock_findings(compose(text), path, model)
            else:
                found = explicit_findings(text, path, model)
        except Malformed as exc:
            self._problem(path, str(exc), part)
            return
        part.files_audited += 1
        part.findings.extend(found)

    def _read(self, path: str, part: AuditReport | None = None, sniff: str | None = None) -> str | None:
        """The file's text; None (after recording a problem) when unreadable.

        With ``sniff``, files whose first 64 KiB lack that marker are skipped silently (``*.lock`` files
        of other tools).
        """
        try:  # regular files only (a FIFO would hang the scan, /dev/zero would fill memory), size-capped
            with open_regular(path, what="") as fh:
                if sniff:
                    data = fh.read(_SNIFF_BYTES)
                    if sniff.encode() not in data:
                        return None
                    data += fh.read(MAX_READ_BYTES + 1 - len(data))
                else:
                    data = read_up_to(fh, MAX_READ_BYTES)
        except EnvreproError as exc:
            self._problem(path, exc.message, part)
            return None
        except OSError as exc:
            self._problem(path, f"cannot read: {exc.strerror or exc}", part)
            return None
        if len(data) > MAX_READ_BYTES:
            self._problem(path, f"cannot read: the file grew past {MAX_READ_BYTES // (1024 * 1024)} MiB", part)
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._problem(path, f"cannot read: not UTF-8 text ({exc.reason} at byte {exc.start})", part)
            return None

    def _problem(self, path: str, message: str, part: AuditReport | None = None) -> None:
        problem = Problem(os.path.normpath(path), message)
        if part is not None:
            part.problems.append(problem)
        else:
            self._add(AuditReport(problems=[problem]))

    def _mark_seen(self, path: str) -> None:
        """``path`` must not be audited later (it was judged here without being audited)."""
        key = os.path.normpath(path)
        self._seen.add(key)
        self._add(AuditReport(), key)


def merge_part(report: AuditReport, part: AuditReport) -> None:
    report.findings.extend(part.findings)
    report.problems.extend(part.problems)
    report.files_audited += part.files_audited
    report.models += part.models


def _entry_of(directory: str, name: str) -> bool:
    """``name`` is a plain entry of ``directory`` that is not a symlink, so inside it without resolving every
    component of both paths (``is_inside``: a dozen lstat calls, a fifth of a scan of 10k models)."""
    plain = name not in ("", ".", "..") and os.sep not in name and not (os.altsep and os.altsep in name)
    return plain and not os.path.islink(os.path.join(directory, name))

