"""Time-faithful resolution: the cutoff rules (envrepro.asof), the installer flags, the CLI option, inspect."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from envrepro.asof import (
    DEFAULT_MIN_AGE_DAYS,
    ENV_VAR,
    model_time,
    parse_as_of,
    pinned_lines,
    pinned_names,
    resolve_as_of,
)
from envrepro.envs.pip_install import uv_cutoff_args
from envrepro.errors import EnvreproError
from tests.conftest import run_cli

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
SAVED = dt.datetime(2023, 12, 5, 10, 11, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_env_cutoff(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.mark.parametrize("value", [
    "2023-12-05 10:11:12.131415",  # MLflow's str(datetime.utcnow())
    "2023-12-05 10:11:12",  # no microseconds (utcnow() at a whole second)
    "2023-12-05T10:11:12Z",
    "2023-12-05T10:11:12.1+00:00",  # one fraction digit: Python 3.10 reads only 3 or 6
    "2023-12-05T12:11:12.131415123+02:00",  # nanoseconds, another zone
    "  2023-12-05 10:11:12 UTC ",
    dt.datetime(2023, 12, 5, 10, 11, 12, 131415),  # unquoted in YAML: a naive datetime, UTC
    dt.datetime(2023, 12, 5, 11, 11, 12, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    1701771072,  # epoch seconds
    1701771072131,  # epoch milliseconds
])
def test_model_time_shapes(value):
    assert model_time(value).replace(microsecond=0) == SAVED


@pytest.mark.parametrize("value", [None, "", "yesterday", "2023-13-45", [], True])
def test_unreadable_model_time(value):
    assert model_time(value) is None


def test_old_model_resolves_as_of_its_save_time():
    as_of = resolve_as_of("2023-12-05 10:11:12.131415", now=NOW)
    assert as_of.cutoff == SAVED.replace(microsecond=131415) and as_of.stamp == "2023-12-05T10:11:12Z"
    assert as_of.describe() == "2023-12-05 10:11:12 UTC (MLmodel utc_time_created)"
    assert as_of.to_dict() == {"cutoff": "2023-12-05T10:11:12Z", "label": "2023-12-05 10:11:12 UTC",
                               "why": "MLmodel utc_time_created"}


def test_fresh_model_resolves_as_of_today():
    just_under = NOW - dt.timedelta(days=DEFAULT_MIN_AGE_DAYS) + dt.timedelta(minutes=1)
    as_of = resolve_as_of(just_under.strftime("%Y-%m-%d %H:%M:%S.%f"), now=NOW)
    assert as_of.cutoff is None and as_of.label == "today" and "less than 7 days" in as_of.why
    at_threshold = NOW - dt.timedelta(days=DEFAULT_MIN_AGE_DAYS)
    assert resolve_as_of(at_threshold.isoformat(), now=NOW).cutoff == at_threshold
    future = resolve_as_of("2030-01-01 00:00:00", now=NOW)  # a saving machine's clock ahead of ours
    assert future.cutoff is None


def test_missing_or_unreadable_time_resolves_as_of_today():
    assert resolve_as_of(None, now=NOW).describe() == "today (MLmodel has no utc_time_created)"
    bad = resolve_as_of("last tuesday", now=NOW)
    assert bad.cutoff is None and bad.problem and "'last tuesday' is not a date" in bad.problem


def test_requested_cutoff_wins_over_the_model_and_the_environment(monkeypatch):
    assert resolve_as_of("2023-12-05 10:11:12", "now", now=NOW).cutoff is None
    day = resolve_as_of("2023-12-05 10:11:12", "2022-03-04", now=NOW)
    # A date means what existed at the end of that day (as uv reads a date).
    assert day.cutoff == dt.datetime(2022, 3, 5, tzinfo=UTC) and day.describe() == "2022-03-04 (--resolve-as-of)"
    moment = resolve_as_of(None, "2022-03-04T05:06:07+01:00", now=NOW)
    assert moment.cutoff == dt.datetime(2022, 3, 4, 4, 6, 7, tzinfo=UTC)
    monkeypatch.setenv(ENV_VAR, "now")
    assert resolve_as_of("2023-12-05 10:11:12", now=NOW).cutoff is None
    assert resolve_as_of(None, "2022-03-04", now=NOW).cutoff is not None  # an explicit argument still wins
    monkeypatch.setenv(ENV_VAR, "soon")
    with pytest.raises(EnvreproError, match=f"{ENV_VAR}: 'soon' is not a date"):
        resolve_as_of("2023-12-05 10:11:12", now=NOW)


@pytest.mark.parametrize("value", ["junk", "2023-02-30", "12/05/2023", ""])
def test_bad_requested_cutoff_is_a_clear_error(value):
    with pytest.raises(EnvreproError, match="is not a date.*2023-12-05T10:11:12Z, or 'now'"):
        parse_as_of(value)


def test_pinned_requirements_are_exempt():
    lines = ["six==1.17.0", "Typing_Extensions===4.0.0", "numpy==1.26.*", "pandas>=2", "packaging",
             "scipy==1.11.4; python_version >= '3.9'", "./local-1.0-py3-none-any.whl",
             "pkg @ https://example.com/pkg-1.0.tar.gz", "-r other.txt", "attrs>=20,==23.1.0"]
    assert pinned_names(lines) == ["attrs", "scipy", "six", "typing-extensions"]
    assert pinned_lines(lines) == ["six==1.17.0", "Typing_Extensions===4.0.0",
                                   "scipy==1.11.4; python_version >= '3.9'", "attrs>=20,==23.1.0"]


def test_uv_flags_exempt_pins_from_requirements_and_constraints():
    assert uv_cutoff_args(None, ["six==1.17.0"]) == []
    args = uv_cutoff_args(SAVED, ["six==1.17.0", "packaging", "numpy<2"] + ["pandas==2.2.2"])
    assert args[:2] == ["--exclude-newer", "2023-12-05T10:11:12Z"]
    exempt = dict(a.removeprefix("--exclude-newer-package=").split("=", 1) for a in args[2:])
    assert sorted(exempt) == ["pandas", "six"]
    later = dt.datetime.strptime(exempt["six"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert later > dt.datetime.now(UTC)  # the exempt package's own cutoff moves to (just after) now


def test_the_cache_key_changes_only_with_a_cutoff():
    from envrepro.env_build import _with_cutoff
    from envrepro.envs.cache import EnvCache

    fields = {"engine": "uv", "python": "3.11.7", "requirements": ["six"]}
    before = EnvCache.key_for(fields)
    assert EnvCache.key_for(_with_cutoff(fields, resolve_as_of(None, "now"))) == before  # keys made before stay
    june, july = (EnvCache.key_for(_with_cutoff(fields, resolve_as_of(None, day))) for day in ("2023-06-01",
                                                                                                 "2023-07-01"))
    assert len({before, june, july}) == 3


def test_python_api_rejects_a_bad_cutoff_before_building(tmp_path):
    import envrepro

    path = _model(tmp_path, "2023-12-05 10:11:12")
    with pytest.raises(EnvreproError, match="--resolve-as-of: 'someday' is not a date"):
        envrepro.create_env(path, env_manager="uv", resolve_as_of="someday")


# -- the command line -------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [["env", "create"], ["predict", "-i", "x.json"], ["serve"], ["lock"]])
def test_bad_resolve_as_of_is_one_line_and_exit_2(tmp_path, command):
    proc = run_cli(*command, "-m", str(tmp_path), "--resolve-as-of", "last week")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "envrepro: error: --resolve-as-of: 'last week' is not a date (use an ISO date or datetime such as "
        "2023-12-05 or 2023-12-05T10:11:12Z, or 'now')"]


def test_every_env_building_command_has_the_option():
    for command in (["env", "create"], ["predict"], ["serve"], ["lock"]):
        assert "--resolve-as-of DATE|now" in run_cli(*command, "--help", check=True).stdout


# -- inspect ----------------------------------------------------------------------------------------------
MLMODEL = """\
flavors:
  python_function:
    env: {{virtualenv: python_env.yaml}}
    loader_module: mlflow.sklearn
    python_version: 3.10.13
mlflow_version: 2.9.2
utc_time_created: '{when}'
"""


def _model(tmp_path, when: str):
    path = tmp_path / "model"
    path.mkdir()
    (path / "MLmodel").write_text(MLMODEL.format(when=when))
    (path / "python_env.yaml").write_text("python: 3.10.13\nbuild_dependencies: [pip, setuptools]\n"
                                          "dependencies: [-r requirements.txt]\n")
    (path / "requirements.txt").write_text("mlflow==2.9.2\nscikit-learn\n")
    return path


def test_inspect_shows_the_cutoff(tmp_path):
    path = _model(tmp_path, "2023-12-05 10:11:12.131415")
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    text = run_cli("inspect", "-m", str(path), env=env, check=True).stdout
    assert "resolve as of: 2023-12-05 10:11:12 UTC (MLmodel utc_time_created)" in text
    report = json.loads(run_cli("inspect", "-m", str(path), "--json", env=env, check=True).stdout)
    assert report["resolve_as_of"] == {"cutoff": "2023-12-05T10:11:12Z", "label": "2023-12-05 10:11:12 UTC",
                                       "why": "MLmodel utc_time_created"}
    why = run_cli("inspect", "-m", str(path), "--why", env=env, check=True).stdout
    assert "  scikit-learn\n    - no record (saved without envrepro provenance)\n    - not pinned: resolves as of " \
           "2023-12-05 10:11:12 UTC\n" in why
    # pinned: never moved
    assert "  mlflow==2.9.2\n    - no record (saved without envrepro provenance)\n  scikit-learn\n" in why
    text = run_cli("inspect", "-m", str(path), env={**env, ENV_VAR: "now"}, check=True).stdout
    assert f"resolve as of: today ({ENV_VAR} now)" in text


def test_inspect_of_a_fresh_model_says_today(tmp_path):
    now = dt.datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    report = json.loads(run_cli("inspect", "-m", str(_model(tmp_path, now)), "--json", check=True).stdout)
    assert report["resolve_as_of"]["cutoff"] is None and report["resolve_as_of"]["label"] == "today"
