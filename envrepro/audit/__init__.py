"""``envrepro audit``: find (and fix) conda environments that pull from Anaconda's repository.

Self-contained on purpose (only ``envrepro.errors`` and ``envrepro.fsutil`` from the rest of envrepro), so
auditing thousands of models stays fast and never imports model code.
"""

from __future__ import annotations

from .channels import classify_channel, classify_url
from .findings import RULES, AuditReport, Finding, ModelInfo, Problem, Skipped
from .fix import (
                  DEFAULT_CHANNEL,
                  FixResult,
                  check_target_channel,
                  exit_code_after_fix,
                  fix_env_file,
                  fix_report,
                  plan_env_fix,
)
from .parallel import audit_paths

__all__ = [
    "DEFAULT_CHANNEL", "RULES", "AuditReport", "Finding", "FixResult", "ModelInfo", "Problem", "Skipped",
    "audit_paths", "check_target_channel", "classify_channel", "classify_url", "exit_code_after_fix",
    "fix_env_file", "fix_report", "plan_env_fix",
]
