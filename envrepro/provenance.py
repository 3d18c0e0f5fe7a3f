"""Why each requirement is in a model: a small record written at save time (``envrepro inspect --why``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

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
    path = model_dir / PROVENANCE_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return {item["requirement"]: list(item.get("reasons", [])) for item in record.get("requirements", [])}
