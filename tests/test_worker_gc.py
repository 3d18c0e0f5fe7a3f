"""The worker freezes what loading a model made, so no later collection (nor the interpreter's exit) walks it."""

from __future__ import annotations

import gc

import pytest


def test_load_leaves_the_gc_enabled_and_what_it_made_frozen(tmp_path, iris_like):
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression

    import envrepro
    from envrepro.launch import load_spec
    from envrepro.model import ModelDir
    from envrepro_runtime.worker import _load

    X, y = iris_like
    envrepro.save_model(LogisticRegression().fit(X, y), tmp_path / "model", input_example=X[:2])
    spec = load_spec(ModelDir.open(tmp_path / "model"))
    gc.unfreeze()
    try:
        model = _load(spec)
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0
        assert model.predict(X[:3]).tolist() == LogisticRegression().fit(X, y).predict(X[:3]).tolist()
    finally:
        gc.unfreeze()
