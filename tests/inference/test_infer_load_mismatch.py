"""Loading a model whose recorded requirements do not match this environment warns once, listing them."""

from __future__ import annotations

import logging
from importlib import metadata

from infer_helpers import make_dist

import envrepro
from envrepro import load as load_module
from envrepro.envs.local_engine import check_environment


def test_mismatches_are_listed_once(tmp_path, sklearn_model, iris_like, caplog, monkeypatch):
    X, _ = iris_like
    installed = metadata.version("scikit-learn")
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path, pip_requirements=[
        "scikit-learn==0.0.1", "surely-not-installed-dist==1.0", f"cloudpickle=={metadata.version('cloudpickle')}"])
    monkeypatch.setattr(load_module, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="envrepro.load"):
        model = envrepro.load_model(path)
        envrepro.load_model(path)
    warnings = [r.getMessage() for r in caplog.records if "does not match" in r.getMessage()]
    assert len(warnings) == 1, warnings
    text = warnings[0]
    # name, recorded, installed for each mismatch
    assert f"scikit-learn: model needs ==0.0.1, found {installed}" in text
    assert "surely-not-installed-dist: model needs ==1.0, found not installed" in text
    assert "cloudpickle" not in text, "a satisfied requirement is not a mismatch"
    assert (model.predict(X[:2]) == sklearn_model.predict(X[:2])).all(), "a warning, not a failure"


def test_matching_environment_is_silent_and_check_can_be_disabled(tmp_path, sklearn_model, caplog, monkeypatch):
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path)
    monkeypatch.setattr(load_module, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="envrepro.load"):
        envrepro.load_model(path)
    assert "does not match" not in caplog.text
    (path / "requirements.txt").write_text("scikit-learn==0.0.1\n")
    monkeypatch.setattr(load_module, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="envrepro.load"):
        envrepro.load_model(path, check_requirements=False)
    assert "does not match" not in caplog.text


def test_local_version_labels_and_markers(tmp_path, monkeypatch):
    site = tmp_path / "site"
    make_dist(site, "gpu-lib", "2.1.0+cu121", files={"gpulib.py": ""})
    monkeypatch.syspath_prepend(str(site))
    assert check_environment(["gpu-lib==2.1.0"]) == [], "+cu121 builds satisfy the public pin"
    assert [m.installed for m in check_environment(["gpu-lib==2.2.0"])] == ["2.1.0+cu121"]
    assert check_environment(["absent-dist==1; python_version < '3'"]) == []
    assert check_environment(["https://example.invalid/x.whl"]) == []
