"""The runtime's ``stream`` command through envrepro.spark's StreamPredictor, with this interpreter as the
model's environment (no environment to build: fast); every other Python is in tests/runtime's matrix."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from envrepro.errors import EnvreproError
from envrepro.spark.predictor import StreamPredictor
from envrepro_runtime.stream import decode_value, encode_value
from tests.conftest import SKLEARN_COLUMNS, run_python

NOISY = '''
import sys
import envrepro
import pandas as pd


class Noisy(envrepro.PythonModel):
    """Prints on stdout and reads stdin (neither may break the stream); returns several column types."""

    def predict(self, context, model_input, params=None):
        print("noise on stdout " * 1000)
        sys.stdin.read()
        if (model_input["a"] == 666).any():
            raise ValueError("the number of the beast")
        a = model_input["a"]
        return pd.DataFrame({"label": ["pos" if x > 0 else None for x in a], "score": a * 2.0,
                             "when": pd.Timestamp("2024-01-02") + pd.to_timedelta(a.abs().round(), unit="D"),
                             "count": (a.abs() * 10).astype("int64"), "raw": [b"\\x00\\xff"] * len(a)})


envrepro.save_model(Noisy(), sys.argv[1], pip_requirements=["pandas"])
'''


@pytest.fixture(scope="module")
def noisy_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("noisy") / "model"
    script = tmp_path_factory.mktemp("noisy-src") / "save.py"
    script.write_text(NOISY)
    run_python(f"import runpy, sys; sys.argv = ['save.py', {str(path)!r}]; runpy.run_path({str(script)!r}, "
               "run_name='__main__')")
    return path


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(rng.normal(size=(500, 4)).round(6), columns=SKLEARN_COLUMNS)


@pytest.mark.parametrize("kind", ["arrow", "columns"])
def test_sklearn_model_streams_batches(saved_sklearn_dir, sklearn_model, frame, kind):
    predictor = StreamPredictor(sys.executable, saved_sklearn_dir)
    try:
        assert predictor.format == "arrow"  # this interpreter has pyarrow
        predictor.format = kind
        for batch in (frame, frame.iloc[:7], frame[list(reversed(SKLEARN_COLUMNS))]):  # by name, as predict
            out = predictor.predict(batch)
            expected = sklearn_model.predict(batch[SKLEARN_COLUMNS].to_numpy())
            assert isinstance(out, np.ndarray) and out.tolist() == expected.tolist()
        with pytest.raises(EnvreproError, match=r"Model is missing inputs \['d'\]"):
            predictor.predict(frame[["a", "b", "c"]])  # the signature is enforced, as by predict
        assert predictor.alive
    finally:
        predictor.close()
    assert predictor.proc.returncode == 0


@pytest.mark.parametrize("kind", ["arrow", "columns"])
def test_output_columns_keep_their_types_and_stdout_is_not_the_protocol(noisy_model, frame, kind):
    predictor = StreamPredictor(sys.executable, noisy_model)
    try:
        predictor.format = kind
        frame = frame.copy()
        frame.loc[3, "a"] = 0.0
        out = predictor.predict(frame)
        assert list(out.columns) == ["label", "score", "when", "count", "raw"]
        assert [None if pd.isna(x) else x for x in out["label"]] == ["pos" if a > 0 else None for a in frame["a"]]
        assert out["score"].tolist() == (frame["a"] * 2.0).tolist()
        assert out["when"].dtype.kind == "M" and out["when"].iloc[3] == pd.Timestamp("2024-01-02")
        assert out["count"].dtype == np.int64 and out["raw"].tolist() == [b"\x00\xff"] * len(frame)
    finally:
        predictor.close()


def test_a_model_error_is_one_line_and_the_predictor_goes_on(noisy_model, frame, capfd):
    predictor = StreamPredictor(sys.executable, noisy_model, name="noisy")
    try:
        bad = frame.copy()
        bad.loc[5, "a"] = 666
        with pytest.raises(EnvreproError) as info:
            predictor.predict(bad)
        version = ".".join(map(str, sys.version_info[:3]))
        assert str(info.value).startswith(f"the model failed while predicting in its environment (Python {version}): "
                                          "ValueError: the number of the beast")
        assert "ValueError: the number of the beast" in capfd.readouterr().err  # the model's traceback, logged
        assert predictor.alive and len(predictor.predict(frame)) == len(frame)
    finally:
        predictor.close()


def test_a_model_that_cannot_load_fails_at_start(saved_sklearn_dir, tmp_path):
    broken = tmp_path / "model"
    shutil.copytree(saved_sklearn_dir, broken)
    for pickle in broken.glob("*.pkl"):
        pickle.unlink()
    with pytest.raises(EnvreproError) as info:
        StreamPredictor(sys.executable, broken)
    assert "Traceback" not in str(info.value) and ".pkl" in str(info.value)


def test_the_predictor_ends_with_its_host(saved_sklearn_dir):
    """However the host ends (here without any cleanup), the predictor reads end-of-file and exits."""
    out = run_python(f"""
        import os, sys
        from envrepro.spark.predictor import StreamPredictor
        predictor = StreamPredictor(sys.executable, {str(saved_sklearn_dir)!r})
        print(predictor.proc.pid, flush=True)
        os._exit(0)
    """)
    pid = int(out.stdout.strip())
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.1)
    assert not _running(pid)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has exited (PID 1 of a container may not reap it)


@pytest.mark.parametrize("value", [
    np.arange(6, dtype=np.int32), np.arange(6.0).reshape(3, 2), np.array(["a", "bb", None], dtype=object),
    pd.Series([1.5, None, 3.0], name="score"), pd.Series(["x", None, "z"]),
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"], 3: [True, False]}),
    {"label": ["x", "y"], "score": np.array([0.5, 0.25])}, [1, "two", None, [3.0]], 7.5,
    np.array(["2024-01-01T00:00:00", "NaT"], dtype="datetime64[ns]"),
])
def test_prediction_values_round_trip(value):
    header, parts = encode_value(value)
    body = bytearray(b"".join(bytes(memoryview(p)) for p in parts))
    back = decode_value(json.loads(json.dumps(header)), body)
    if isinstance(value, pd.DataFrame):
        pd.testing.assert_frame_equal(back, value)
    elif isinstance(value, pd.Series):
        pd.testing.assert_series_equal(back, value)
    elif isinstance(value, np.ndarray):
        np.testing.assert_array_equal(back, value)
        assert value.dtype == object or back.dtype == value.dtype
    elif isinstance(value, dict):
        assert list(back) == list(value) and back["label"] == ["x", "y"] and back["score"].tolist() == [0.5, 0.25]
    else:
        assert back == value


def test_numbers_travel_as_raw_buffers_not_json():
    header, parts = encode_value(np.linspace(0, 1, 10_000))
    assert header["columns"][0]["enc"] == "raw" and sum(memoryview(p).nbytes for p in parts) == 80_000
