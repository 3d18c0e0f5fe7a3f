"""Time-faithful resolution: what a model leaves unpinned resolves to what existed when it was saved.

The cutoff is MLmodel's ``utc_time_created`` for models older than :data:`DEFAULT_MIN_AGE_DAYS`; a fresher
model resolves as of today (a cutoff of "a minute ago" would only break a fresh upload or a requirement
added right after saving). ``--resolve-as-of DATE|now`` (or ``ENVREPRO_RESOLVE_AS_OF``) overrides it.
Requirements pinned with ``==``/``===`` are never moved: installers exempt them from the cutoff.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from .errors import EnvreproError

ENV_VAR = "ENVREPRO_RESOLVE_AS_OF"
# A week covers the save → edit requirements → redeploy cycle, during which today's index is what the model
# was made with anyway; after that, every release since saving is a chance to break it.
DEFAULT_MIN_AGE_DAYS = 7
MODEL_SOURCE = "MLmodel utc_time_created"
_FRACTION = re.compile(r"(\.\d+)")


@dataclass(frozen=True)
class ResolveAsOf:
    """The cutoff for one build: ``cutoff`` is None for "today" (no cutoff); ``why`` says where it came from."""

    cutoff: datetime | None  # UTC; only what was uploaded before this instant is considered
    why: str
    label: str = "today"  # how the cutoff was given, for people: "2023-12-05 10:11:12 UTC", "2023-12-05"
    problem: str | None = None  # an unreadable utc_time_created, worth a warning

    def describe(self) -> str:
        return f"{self.label} ({self.why})"

    @property
    def stamp(self) -> str | None:
        return None if self.cutoff is None else stamp(self.cutoff)

    def to_dict(self) -> dict[str, Any]:
        return {"cutoff": self.stamp, "label": self.label, "why": self.why}


def stamp(moment: datetime) -> str:
    """RFC 3339 UTC in whole seconds: what uv, pip and the cache key get."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_as_of(value: str | date | datetime, *, what: str = "--resolve-as-of") -> ResolveAsOf:
    """A user-given cutoff: ``now``, an ISO date (the whole day counts) or an ISO datetime (UTC if no zone)."""
    if isinstance(value, str) and value.strip().lower() in ("now", "today"):
        return ResolveAsOf(None, f"{what} now")
    parsed = _parse_time(value)
    if parsed is None:
        raise EnvreproError(f"{what}: {value!r} is not a date",
                            hint="use an ISO date or datetime such as 2023-12-05 or 2023-12-05T10:11:12Z, or 'now'")
    cutoff, label = parsed
    return ResolveAsOf(cutoff, what, label)


def model_time(value: Any) -> datetime | None:
    """MLmodel's ``utc_time_created`` as a UTC datetime, whatever shape MLflow or YAML gave it; None if absent
    or unreadable."""
    parsed = _parse_time(value) if value not in (None, "") else None
    return parsed[0] if parsed is not None else None


def resolve_as_of(utc_time_created: Any, requested: str | date | datetime | None = None, *,
                  now: datetime | None = None, min_age_days: float = DEFAULT_MIN_AGE_DAYS) -> ResolveAsOf:
    """The cutoff for a model saved at ``utc_time_created``; ``requested`` (or ENVREPRO_RESOLVE_AS_OF) wins."""
    if requested is None and os.environ.get(ENV_VAR):
        return parse_as_of(os.environ[ENV_VAR], what=ENV_VAR)
    if requested is not None:
        return parse_as_of(requested)
    saved = model_time(utc_time_created)
    if saved is None and utc_time_created in (None, ""):
        return ResolveAsOf(None, "MLmodel has no utc_time_created")
    if saved is None:
        problem = f"MLmodel utc_time_created {str(utc_time_created)!r} is not a date"
        return ResolveAsOf(None, problem, problem=problem)
    age = (now or datetime.now(timezone.utc)) - saved
    if age < timedelta(days=min_age_days):
        return ResolveAsOf(None, f"saved {max(age.days, 0)} day(s) ago, less than {min_age_days:g} days")
    return ResolveAsOf(saved, MODEL_SOURCE, saved.strftime("%Y-%m-%d %H:%M:%S UTC"))


def _parse_time(value: Any) -> tuple[datetime, str] | None:
    """(cutoff, label); a bare date means the end of that day (as uv reads one), a naive time means UTC."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        moment = moment.astimezone(timezone.utc)
        return moment, moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, date):
        return _end_of_day(value), value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value  # epoch milliseconds or seconds
        try:
            return _parse_time(datetime.fromtimestamp(seconds, timezone.utc))
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    text = re.sub(r"\s*(UTC|GMT|Z)$", "+00:00", text, flags=re.IGNORECASE)
    # Python < 3.11 reads only 3 or 6 fraction digits: MLflow and other writers vary.
    text = _FRACTION.sub(lambda m: (m.group(1) + "000000")[:7], text, count=1)
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return _parse_time(date.fromisoformat(text))
        return _parse_time(datetime.fromisoformat(text))
    except ValueError:
        return None


def _end_of_day(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(days=1)


def pinned_names(lines: Iterable[str]) -> list[str]:
    """Canonical names of requirements pinned to one version (``==X`` without a wildcard, ``===X``)."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    names: set[str] = set()
    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue  # paths, URLs, options: not from an index
        if req.url is None and any(s.operator == "===" or (s.operator == "==" and not s.version.endswith(".*"))
                                   for s in req.specifier):
            names.add(canonicalize_name(req.name))
    return sorted(names)


def pinned_lines(lines: Iterable[str]) -> list[str]:
    """The lines of ``lines`` that :func:`pinned_names` counts."""
    return [line for line in lines if pinned_names([line])]
