"""A tensor signature is enforced with numpy alone: an environment without pandas (a scikit-learn model saved
with a numpy input example, as the README's quickstart saves one) predicts, as ``Signature.usable`` promises."""

from __future__ import annotations

import json

from tests.conftest import run_python

SIGNATURE = {"inputs": json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}]),
             "outputs": None, "params": None}


def _enforce(payload: str) -> str:
    return run_python(f"""
        import json, sys

        class NoPandas:  # this environment has no pandas
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "pandas":
                    raise ImportError("No module named 'pandas'", name="pandas")

        sys.meta_path.insert(0, NoPandas())
        from envrepro_runtime.errors import PayloadError
        from envrepro_runtime.signature import Signature

        signature = Signature.from_spec({SIGNATURE!r}).usable()
        assert signature.inputs is not None, "a tensor schema is kept without pandas"
        try:
            data = signature.enforce(signature.parse_tensor_input("inputs", {payload}))
        except PayloadError as exc:
            print("refused:", exc)
        else:
            print(type(data).__name__, data.dtype, data.shape)
        assert "pandas" not in sys.modules
    """).stdout.strip()


def test_tensor_schema_is_enforced_without_pandas():
    assert _enforce("[[0.3, 0.8, 0.3, -1.3], [1, 2, 3, 4]]") == "ndarray float64 (2, 4)"


def test_a_wrong_shape_is_still_refused_without_pandas():
    out = _enforce("[[0.3, 0.8, 0.3]]")
    assert out.startswith("refused:") and "Shape of input (1, 3) does not match expected shape (-1, 4)" in out, out
