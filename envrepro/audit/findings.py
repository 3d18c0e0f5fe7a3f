"""What an audit produces: findings, unreadable inputs, skipped paths, and the exit code they imply."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ERROR = "error"
WARNING = "warning"

# rule id -> severity. Documented in docs/audit.md; the ids are part of the JSON output.
RULES = {
    "explicit-defaults": ERROR,        # channels: [defaults]
    "anaconda-channel": ERROR,         # main, r, pkgs/main, repo.anaconda.com/..., conda.anaconda.org/anaconda
    "implicit-defaults": WARNING,      # no channels at all: conda falls back to defaults
    "channel-prefixed-spec": ERROR,    # defaults::mkl, pkgs/main::x, mkl[channel=anaconda]
    "lock-anaconda-url": ERROR,        # a locked package downloaded from Anaconda's repository
    "lock-anaconda-channel": ERROR,    # conda-lock metadata.channels names defaults / an Anaconda channel
}

ENV = "env"
LOCK = "lock"

_VERSION = re.compile(r"^\s*v?(\d+)\.(\d+)")


@dataclass(frozen=True)
class ModelInfo:
    """The MLflow model an env file belongs to, and what we know about the MLflow that logged it."""

    path: str
    mlflow_version: str | None = None
    version_source: str | None = None  # "MLmodel" or "conda.yaml pin"; None when unknown

    @property
    def pre_1_18(self) -> bool | None:
        """MLflow < 1.18 wrote ``channels: [defaults]`` into every model: True/False, None if unknown."""
        match = _VERSION.match(self.mlflow_version or "")
        if not match:
            return None
        return (int(match.group(1)), int(match.group(2))) < (1, 18)

    def label(self) -> str:
        if self.mlflow_version is None:
            # MLmodel gained `mlflow_version` in MLflow 1.25: its absence dates the model.
            return "unknown (<1.25)"
        text = self.mlflow_version
        if self.version_source and self.version_source != "MLmodel":
            text += " (pin)"
        if self.pre_1_18:
            text += " PRE-1.18"
        return text

    def to_json(self) -> dict:
        return {"path": self.path, "mlflow_version": self.mlflow_version, "version_source": self.version_source,
                "pre_1_18": self.pre_1_18}


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    rule: str
    message: str
    value: str
    kind: str = ENV
    model: ModelInfo | None = None

    @property
    def severity(self) -> str:
        return RULES[self.rule]

    def sort_key(self) -> tuple:
        return (self.file, self.line, self.rule, self.value)

    def to_json(self) -> dict:
        return {"file": self.file, "line": self.line, "rule": self.rule, "severity": self.severity,
                "kind": self.kind, "value": self.value, "message": self.message,
                "mlflow": self.model.to_json() if self.model else None}


@dataclass(frozen=True)
class Problem:
    """Input that could not be audited (unreadable, malformed). Reported; the scan goes on."""

    path: str
    message: str

    def to_json(self) -> dict:
        return {"path": self.path, "message": self.message}


@dataclass(frozen=True)
class Skipped:
    """A directory not descended into (symlink loop, already scanned through another path)."""

    path: str
    reason: str

    def to_json(self) -> dict:
        return {"path": self.path, "reason": self.reason}


@dataclass
class AuditReport:
    findings: list[Finding] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    files_audited: int = 0   # env and lock files parsed
    models: int = 0          # MLmodel files read
    dirs: int = 0
    seconds: float = 0.0

    def sort(self) -> None:
        self.findings.sort(key=Finding.sort_key)
        self.problems.sort(key=lambda p: p.path)
        self.skipped.sort(key=lambda s: s.path)

    def flagged_files(self) -> dict[str, list[Finding]]:
        by_file: dict[str, list[Finding]] = {}
        for finding in self.findings:
            by_file.setdefault(finding.file, []).append(finding)
        return by_file

    @property
    def exit_code(self) -> int:
        """2 when some input was unreadable, else 1 when anything is flagged, else 0."""
        if self.problems:
            return 2
        return 1 if self.findings else 0
