"""Why each requirement is in a model: a small record written at save time (``envrepro inspect --why``)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import EnvreproError
from .fsutil import read_text
from .model import PROVENANCE_FILE
from .requirements import requirement_name


def render_provenance(requirements: Sequence[str], reasons: Mapping[str, Sequence[str]]) -> str:
    """``reasons`` maps canonical names to human-readable reasons (flavor default, imported modules...)."""
    record = {
        "format": 1,
        "requirements": [
            {"requirement": line, "reasons": list(reasons.get(requirement_name(line) or line, ["user-given"]))}
            for line in requirements
        ],
    }
    return json.dumps(record, indent=2) + "\n"


def read_provenance(model_dir: Path) -> dict[str, list[str]] | None:
    """The record, or None when it is absent or unusable (it only explains; nothing depends on it)."""
    path = model_dir / PROVENANCE_FILE
    if not path.exists():
        return None
    try:
        record = json.loads(read_text(path, what=PROVENANCE_FILE, root=model_dir))
        return {str(item["requirement"]): [str(r) for r in item.get("reasons", [])]
                for item in record.get("requirements", [])}
    except (EnvreproError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None
