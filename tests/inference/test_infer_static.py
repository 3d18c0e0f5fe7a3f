"""Reading the model's own code: what counts as an import the input example may not reach."""

from __future__ import annotations

import textwrap
from pathlib import Path

from envrepro.inference.static import guarded_import_lines, import_lines, scan_code_dir, scan_file, scan_reachable


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


MODULE = """
    from __future__ import annotations

    import os
    from typing import TYPE_CHECKING

    import pytest                      # used by the tests below the class, not by the model
    import numpy as np
    from scipy import special

    if TYPE_CHECKING:
        import pandas

    try:
        import ujson as json
    except ImportError:
        import json

    def helper(x):
        import yaml
        return special.expit(x)

    def unrelated():
        import torch

    class Model:
        def predict(self, context, data):
            if len(data) > 10:
                from PIL import Image
            return helper(np.asarray(data))

    def test_something():
        pytest.fail()
"""


def test_reachable_from_the_model_class_only(tmp_path):
    path = _write(tmp_path / "mod.py", MODULE)
    found = {i.module for i in scan_reachable(path, "Model")}
    assert {"numpy", "scipy.special", "yaml", "PIL.Image"} <= found
    assert not found & {"pytest", "torch", "pandas", "ujson"}, found


def test_whole_module_when_the_class_is_unknown(tmp_path):
    path = _write(tmp_path / "mod.py", MODULE)
    found = {i.module for i in scan_reachable(path, None)} | {i.module for i in scan_reachable(path, "Missing")}
    assert {"pytest", "torch", "numpy", "yaml"} <= found
    assert "pandas" not in found and "ujson" not in found, "TYPE_CHECKING and except ImportError are skipped"


def test_nested_class_qualname(tmp_path):
    path = _write(tmp_path / "mod.py", """
        def factory():
            class Inner:
                def predict(self, x):
                    import sklearn
            return Inner
        import torch
    """)
    assert {i.module for i in scan_reachable(path, "factory.<locals>.Inner")} == {"sklearn"}


def test_import_module_literal_and_lines(tmp_path):
    path = _write(tmp_path / "mod.py", """
        import importlib

        def load():
            return importlib.import_module("cv2"), __import__("yaml")
    """)
    found = {(i.module, i.line) for i in scan_file(path)}
    assert ("cv2", 5) in found and ("yaml", 5) in found and ("importlib", 2) in found


def test_code_dir_relative_imports_resolve_against_the_package(tmp_path):
    code = tmp_path / "code"
    _write(code / "pkg" / "__init__.py", "from .sub import f\nfrom . import other\n")
    _write(code / "pkg" / "sub.py", "from ..toplevel import x\nfrom .deep.mod import y\nimport requests\n")
    _write(code / "helper.py", "from dateutil import parser\n")
    found = {i.module for i in scan_code_dir(code)}
    assert {"pkg.sub.f", "pkg.other", "pkg.deep.mod.y", "requests", "dateutil.parser"} <= found
    assert not any(m.startswith("toplevel") for m in found), "beyond the top-level package: dropped"
    assert scan_code_dir(tmp_path / "missing") == []


def test_syntax_error_files_are_skipped(tmp_path):
    path = _write(tmp_path / "bad.py", "def (:\n")
    assert scan_file(path) == [] and scan_reachable(path, "X") == []


def test_guarded_import_lines(tmp_path):
    path = _write(tmp_path / "lib.py", """
        import contextlib
        try:
            import numpy
        except ImportError:
            numpy = None
        with contextlib.suppress(ImportError):
            import pandas
        try:
            import scipy
        except ValueError:
            pass
        from yaml import (
            safe_load,
        )
    """)
    guarded = guarded_import_lines(str(path))
    assert 4 in guarded and 8 in guarded
    assert 10 not in guarded, "except ValueError does not make an import optional"
    every = import_lines(str(path))[0]
    assert {2, 4, 8, 10, 13, 14, 15} <= every
