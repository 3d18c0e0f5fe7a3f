"""No public name of ``envrepro`` is also a submodule: importing every submodule first leaves each callable.

(``envrepro.predict`` used to be both the function and the module ``envrepro/predict.py``: after ``import
envrepro.predict`` it was the module, and ``envrepro.predict(model, X)`` failed with "'module' object is not
callable".)
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import envrepro


def test_every_public_name_stays_itself_after_importing_every_submodule():
    modules = [m.name for m in pkgutil.walk_packages(envrepro.__path__, "envrepro.")
               if not m.name.endswith("__main__") and ".inference._bootstrap" not in m.name]
    code = ("import importlib, sys, envrepro\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "import types\n"
            "bad = [n for n in envrepro.__all__ if isinstance(getattr(envrepro, n), types.ModuleType)]\n"
            "assert not bad, bad\n"
            "assert callable(envrepro.predict) and callable(envrepro.save_model) and callable(envrepro.load_model)\n"
            "print(len(sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_no_submodule_is_named_like_a_public_name():
    submodules = {m.name for m in pkgutil.iter_modules(envrepro.__path__)}
    assert submodules & set(envrepro.__all__) == set()
