"""A long-lived predictor in a model's environment, fed batch after batch over a pipe (the runtime's ``stream``).

Used by the Spark UDF on every executor, but Spark-free: anything that scores many batches with one model can
use :class:`StreamPredictor`. The wire format is described in ``envrepro_runtime.stream``; this side writes
Arrow IPC when the environment reads it (pyarrow >= 1.0 there), else the runtime's ``columns`` encoding, and
plain JSON rows for an environment without pandas.
"""

from __future__ import annotations

import collections
import contextlib
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from ..errors import EnvreproError
from ..launch import RuntimeFailure, explain_failure, explain_report, load_spec, worker_command
from ..model import ModelDir

HOST_FORMATS = ("arrow", "columns", "json")  # the order this side prefers them in
_STDERR_LINES = 200


class StreamPredictor:
    """``predict(frame, params)`` inside the environment of ``python``, one process for every call.

    The process starts (and loads the model) in the constructor and lives until :meth:`close`, or until
    this process ends (its stdin closes with us). Errors: the model's (or the input's) failure is raised as
    the same one-line error ``envrepro predict`` gives, and the predictor stays usable; a predictor whose
    process died raises with the end of its stderr and must be replaced (``alive`` is then False).
    """

    def __init__(self, python: str | Path, model_dir: str | Path, *, name: str | None = None,
                 cache_key: str | None = None):
        self.name = name or str(model_dir)
        spec = load_spec(ModelDir.open(model_dir), name=self.name)
        self._stack = contextlib.ExitStack()
        if cache_key is not None:  # `env rm` and `env prune` leave the environment alone while it runs
            from ..envs.cache import EnvCache

            self._stack.enter_context(EnvCache().in_use(cache_key))
        self._lock = threading.Lock()
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        try:
            self.proc = subprocess.Popen(worker_command(python, "stream", spec), stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except BaseException:
            self._stack.close()
            raise
        self._drain = threading.Thread(target=self._read_stderr, args=(self.proc.stderr,), daemon=True,
                                       name="envrepro-stream-stderr")
        self._drain.start()
        hello = self._receive()
        self.python_version: str = hello[0].get("python", "?")
        offered = hello[0].get("formats", ["json"])
        self.format = next(f for f in HOST_FORMATS if f in offered and (f != "arrow" or _has_pyarrow()))

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def predict(self, frame: Any, params: dict[str, Any] | None = None) -> Any:
        """The model's predictions for the pandas DataFrame ``frame`` (as its predict returned them)."""
        from envrepro_runtime.stream import decode_value, write_message

        header, parts = encode_batch(frame, self.format)
        header.update(op="predict", params=params)
        with self._lock:
            try:
                write_message(self.proc.stdin, header, parts)
            except OSError:  # BrokenPipeError: it died
                raise self._died() from None
            reply, body = self._receive()
        if not reply.get("ok"):
            raise self._failure(reply)
        return decode_value(reply, body)

    def _failure(self, reply: dict[str, Any]) -> EnvreproError:
        """The error for a batch the worker could not score; the traceback goes to our stderr (a Spark
        executor's log), since nobody here can rerun with -v."""
        report = reply.get("report") or {}
        error = explain_report(report, self.name)
        if report.get("kind") in ("model", "runtime") and reply.get("details"):
            sys.stderr.write(f"envrepro: the traceback in the model's environment:\n{reply['details']}")
            if error.hint and error.hint.startswith("run with -v"):
                error = type(error)(error.message, path=error.path,
                                    hint="its traceback is on this process's stderr (a Spark executor's log)")
        return error

    def close(self, timeout: float = 10) -> None:
        """End the process: its stdin closes and it exits; killed when it does not within ``timeout``."""
        with contextlib.suppress(OSError):
            self.proc.stdin.close()  # type: ignore[union-attr]
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._stack.close()

    def _receive(self) -> tuple[dict[str, Any], bytearray]:
        from envrepro_runtime.stream import read_message

        try:
            message = read_message(self.proc.stdout)
        except (OSError, EOFError, ValueError):
            message = None
        if message is None:
            raise self._died()
        return message

    def _died(self) -> EnvreproError:
        """The error for a process that ended: its own report when it wrote one (a model that cannot load)."""
        returncode = self.proc.wait()
        self._drain.join(timeout=5)
        self._stack.close()
        error = explain_failure("".join(self._stderr), self.name, returncode)
        if isinstance(error, RuntimeFailure) and "failed in the model's environment:" in error.message:
            tail = "".join(list(self._stderr)[-20:]).strip()
            return RuntimeFailure(f"the model's predictor in its environment ended (exit code {returncode})"
                                  + (f"; the end of its output:\n{tail}" if tail else ", with no output"))
        return error

    def _read_stderr(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            self._stderr.append(line.decode(errors="replace"))


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def encode_batch(frame: Any, kind: str) -> tuple[dict[str, Any], list[Any]]:
    """(header, body parts) of a DataFrame in one of the stream's input formats."""
    if kind == "arrow":
        import pyarrow as pa

        if not all(isinstance(c, str) for c in frame.columns):
            frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
        batch = pa.RecordBatch.from_pandas(frame, preserve_index=False)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        return {"format": "arrow"}, [sink.getvalue()]
    if kind == "columns":
        from envrepro_runtime.stream import encode_columns

        names = list(frame.columns)
        specs, parts = encode_columns(names, [frame.iloc[:, i] for i in range(len(names))])
        return {"format": "columns", "rows": len(frame), "columns": specs}, parts
    import json

    from envrepro_runtime.payload import to_jsonable

    return {"format": "json"}, [json.dumps({"inputs": to_jsonable(frame.to_numpy().tolist())}).encode()]
