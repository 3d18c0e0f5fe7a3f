"""The plugin system: entry points, disabling, listing, conflicts, and a real third-party plugin."""

from __future__ import annotations

import json
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from envrepro import plugins
from envrepro.errors import FlavorError
from envrepro.hookspecs import Flavor, SaveResult, hookimpl
from tests.conftest import ROOT, run_cli, run_python


def test_builtins_are_listed_with_their_distribution():
    listed = {p.name: p for p in plugins.list_plugins()}
    assert {"sklearn", "pytorch", "pyfunc"} <= set(listed)
    assert listed["sklearn"].module == "envrepro_flavors.sklearn" and listed["sklearn"].distribution == "envrepro"
    assert set(plugins.flavors()) >= {"sklearn", "pytorch", "python_function"}


def _fake_distribution(root: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> Path:
    """A real installed-looking distribution (dist-info with entry points) on a directory for sys.path."""
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[envrepro]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))
    for name, source in modules.items():
        (root / f"{name}.py").write_text(source)
    return root


FLAVOR_PLUGIN = """
from envrepro.hookspecs import Flavor, SaveResult, hookimpl

@hookimpl
def {hook}():
    yield Flavor(name={name!r}, loader_module="x", can_handle=lambda o: False, default_requirements=list,
                 save=lambda *a: SaveResult({{}}), runtime_loader="x")
"""


@pytest.fixture
def on_sys_path(monkeypatch):
    def add(path: Path) -> None:
        monkeypatch.syspath_prepend(str(path))
        plugins.reset()
    yield add
    plugins.reset()


def test_builtins_need_no_entry_point_metadata():
    from importlib import metadata

    assert not [ep for ep in metadata.entry_points(group="envrepro") if ep.value.startswith("envrepro_flavors")]
    assert {"sklearn", "pytorch", "python_function"} <= set(plugins.flavors())


def test_a_flavor_from_two_distributions_is_an_error_naming_both(tmp_path, on_sys_path):
    on_sys_path(_fake_distribution(tmp_path, "acme-flavors", {"acme": "acme_plugin"},
                                   {"acme_plugin": FLAVOR_PLUGIN.format(hook="envrepro_flavors", name="sklearn")}))
    with pytest.raises(FlavorError) as caught:
        plugins.flavors()
    assert "flavor 'sklearn' is provided by both 'sklearn' and 'acme'" in str(caught.value)
    assert "distributions envrepro and acme-flavors" in str(caught.value)
    assert "ENVREPRO_DISABLE_PLUGINS=acme" in str(caught.value)


def test_a_plugin_name_taken_by_a_builtin_is_reported(tmp_path, on_sys_path, caplog):
    on_sys_path(_fake_distribution(tmp_path, "shadow", {"sklearn": "shadow_plugin"},
                                   {"shadow_plugin": FLAVOR_PLUGIN.format(hook="envrepro_flavors", name="shadowed")}))
    assert "shadowed" not in plugins.flavors()
    broken = {p.name: p for p in plugins.list_plugins() if p.error}
    assert broken["sklearn"].distribution == "shadow" and "taken by envrepro" in broken["sklearn"].error


def test_a_misspelled_hook_is_reported_not_ignored(tmp_path, on_sys_path, caplog):
    on_sys_path(_fake_distribution(tmp_path, "typo-flavors", {"typo": "typo_plugin"},
                                   {"typo_plugin": FLAVOR_PLUGIN.format(hook="envrepro_flavor", name="typo")}))
    with caplog.at_level("WARNING", logger="envrepro.plugins"):
        assert "typo" not in plugins.flavors()
    info = next(p for p in plugins.list_plugins() if p.name == "typo")
    assert "envrepro_flavor" in info.error and info.distribution == "typo-flavors"
    assert any("plugin typo" in r.getMessage() and "not loaded" in r.getMessage() for r in caplog.records)


def test_a_broken_plugin_is_a_warning_and_later_errors_name_it(tmp_path, on_sys_path, caplog):
    on_sys_path(_fake_distribution(tmp_path, "broken-flavors", {"broken": "broken_plugin"},
                                   {"broken_plugin": "raise ImportError('needs libacme.so')\n"}))
    with caplog.at_level("WARNING", logger="envrepro.plugins"):
        plugins.flavors()
    assert any("plugin broken" in r.getMessage() and "needs libacme.so" in r.getMessage() for r in caplog.records)
    with pytest.raises(FlavorError, match="unknown flavor 'acme'") as caught:
        plugins.get_flavor("acme")
    assert "broken from broken-flavors (ImportError: needs libacme.so)" in caught.value.format()


def test_hooks_run_once_per_manager():
    calls = []

    class Counting:
        @hookimpl
        def envrepro_flavors(self):
            calls.append(1)
            return []

    pm = plugins.plugin_manager()
    pm.register(Counting(), name="counting")
    try:
        for _ in range(3):
            plugins.flavors()
        assert calls == [1]
    finally:
        pm.unregister(name="counting")


def test_disabling_an_unknown_plugin_warns(monkeypatch, caplog):
    monkeypatch.setenv(plugins.DISABLE_ENV_VAR, "sklern")
    with caplog.at_level("WARNING", logger="envrepro.plugins"):
        plugins.flavors()
    assert any("ENVREPRO_DISABLE_PLUGINS names sklern, which is no plugin" in r.getMessage() for r in caplog.records)


def test_core_never_imports_a_flavor_module():
    out = run_python("""
        import sys, envrepro, envrepro.cli, envrepro.inspection, envrepro.save, envrepro.load
        print([m for m in sys.modules if m.startswith("envrepro_flavors")])
    """)
    assert out.stdout.strip() == "[]"


def test_disable_plugin_by_environment(monkeypatch):
    monkeypatch.setenv(plugins.DISABLE_ENV_VAR, "sklearn, pytorch")
    assert set(plugins.flavors()) == {"python_function"}
    assert {p.name for p in plugins.list_plugins() if p.disabled} == {"sklearn", "pytorch"}
    with pytest.raises(FlavorError, match="unknown flavor 'sklearn'"):
        plugins.get_flavor("sklearn")


def test_disabled_plugin_shown_by_cli():
    import os

    env = dict(os.environ, ENVREPRO_DISABLE_PLUGINS="pytorch")
    out = run_cli("flavors", env=env, check=True)
    assert "pytorch" not in out.stdout.split("(plugin")[0]
    assert "plugin pytorch from envrepro is disabled" in out.stdout
    data = json.loads(run_cli("flavors", "--json", check=True).stdout)
    sk = next(r for r in data["flavors"] if r["flavor"] == "sklearn")
    assert sk["plugin"] == "sklearn" and any(r.startswith("scikit-learn==") for r in sk["default_requirements"])


class _Dup:
    @hookimpl
    def envrepro_flavors(self):
        yield Flavor(name="sklearn", loader_module="x", can_handle=lambda o: False,
                     default_requirements=list, save=lambda *a: SaveResult({}), runtime_loader="x")


class _Wrong:
    @hookimpl
    def envrepro_flavors(self):
        return ["not a flavor"]


def test_duplicate_flavor_names_are_reported():
    pm = plugins.plugin_manager()
    pm.register(_Dup(), name="dup")
    try:
        with pytest.raises(FlavorError, match="provided by both 'sklearn' and 'dup'"):
            plugins.flavors()
    finally:
        pm.unregister(name="dup")


def test_hook_returning_wrong_type_is_reported():
    pm = plugins.plugin_manager()
    pm.register(_Wrong(), name="wrong")
    try:
        with pytest.raises(FlavorError, match="expected envrepro.hookspecs.Flavor"):
            plugins.flavors()
    finally:
        pm.unregister(name="wrong")


def test_priority_picks_pyfunc_for_python_models():
    import envrepro

    class M(envrepro.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    assert plugins.flavor_for_object(M()).name == "python_function"


@pytest.fixture(scope="module")
def plugin_venv(tmp_path_factory) -> Path:
    """A fresh venv that sees the test interpreter's packages (envrepro as installed there, and its
    dependencies) and has the echo plugin pip-installed."""
    import site
    import sysconfig

    root = tmp_path_factory.mktemp("plugin-venv")
    venv.EnvBuilder(with_pip=True).create(root / "venv")
    python = root / "venv" / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # addsitedir (not a bare path line) so the parent's own .pth files, envrepro's editable finder among
    # them, are processed too: the venv sees envrepro however the test interpreter has it installed.
    parents = [p for p in site.getsitepackages() + [sysconfig.get_path("purelib")] if Path(p).is_dir()]
    (Path(purelib) / "_parent_site.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in dict.fromkeys(parents)))
    source = root / "plugin_dist"  # build from a copy: setuptools writes build/ and egg-info next to the source
    shutil.copytree(ROOT / "tests" / "plugin_dist", source)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(source)], check=True,
                   capture_output=True, cwd=root)
    return python


@pytest.mark.slow
def test_third_party_plugin_listed_and_used(plugin_venv, tmp_path):
    listing = run_cli("flavors", python=str(plugin_venv), check=True)
    assert "echo" in listing.stdout and "envrepro-echo-flavor==0.1.0" in listing.stdout
    assert "echo" not in run_cli("flavors", check=True).stdout  # the base interpreter does not have it
    out = run_python(f"""
        import envrepro
        from envrepro_echo_flavor import EchoModel
        envrepro.save_model(EchoModel(3), {str(tmp_path / 'model')!r})
        print(envrepro.load_model({str(tmp_path / 'model')!r}).predict([1, 2]))
    """, python=str(plugin_venv))
    assert out.stdout.strip() == "[3, 6]"
    mlmodel = (tmp_path / "model" / "MLmodel").read_text()
    assert "loader_module: envrepro_echo_flavor" in mlmodel and "echo:" in mlmodel
    assert "envrepro-echo-flavor==0.1.0" in (tmp_path / "model" / "requirements.txt").read_text()
    # Inside an environment that has neither envrepro nor the plugin, the plugin's runtime loader (copied into
    # envrepro's runtime directory, without the plugin's host-side __init__) loads the model.
    bare = tmp_path / "bare"
    venv.EnvBuilder(with_pip=False).create(bare)
    (tmp_path / "in.json").write_text('{"inputs": [1, 2]}')
    out = run_cli("predict", "-m", str(tmp_path / "model"), "-i", str(tmp_path / "in.json"), "--env-prefix",
                  str(bare), python=str(plugin_venv), check=True)
    assert json.loads(out.stdout) == {"predictions": [3, 6]}
