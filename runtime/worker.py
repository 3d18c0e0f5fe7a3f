"""The worker: what the model's python runs (``python -I -B <runtime>/bootstrap.py predict|serve|stream ...``).

The host (``envrepro/launch.py``) passes the load spec as JSON on the command line. On failure the worker
writes one report line (:func:`envrepro_runtime.errors.report_line`) as the last line of stderr, so the
host can tell the input's fault from the model's and from envrepro's own.
"""

import argparse
import gc
import json
import logging
import os
import sys
import traceback

from .bytecode import compile_imported_later
from .errors import ModelLoadError, PayloadError, describe, python_version, report_line
from .limits import DEFAULT_MAX_REQUEST_BYTES, EXIT_USER_ERROR
from .loading import load
from .scoring import ModelPredictError, score

EXIT_FAILED = 1


class OutputError(Exception):
    """The predictions could not be written where the user asked."""


def _write_output(path, data):
    try:
        _write(path, data)
    except (IOError, OSError) as exc:
        raise OutputError(exc.strerror or str(exc)) from None


def _write(path, data):
    if path in (None, "-"):
        out = getattr(sys.stdout, "buffer", sys.stdout)
        out.write(data + b"\n")
        out.flush()
        return
    tmp = "{}.tmp-{}".format(path, os.getpid())
    with open(tmp, "wb") as fh:
        fh.write(data + b"\n")
    os.replace(tmp, path)


def _load(spec):
    """The model, loaded with the cyclic GC paused: importing a model's libraries makes hundreds of thousands of
    objects that all live on, and collecting while they are made costs ~10% of the load and frees nothing.

    Then frozen (3.7+): re-enabling the GC with all of them in the youngest generation would only defer that cost
    (the next collections walk them all, and so does the interpreter's exit); frozen, no collection looks at them.
    With scikit-learn and pandas this cut a predict's CPU time by ~0.2 s (~18 %)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        model = load(spec)
        if hasattr(gc, "freeze"):
            gc.freeze()
        return model
    finally:
        if enabled:
            gc.enable()


def _predict(args, spec, loaded=None):
    body = getattr(sys.stdin, "buffer", sys.stdin).read()
    model = loaded if loaded is not None else _load(spec)
    _write_output(args.output, score(model, body, args.content_type))
    compile_imported_later()  # the next predict starts from bytecode
    return 0


def _serve(args, spec):
    from .server import ServerConfig, serve

    config = ServerConfig(host=args.host, port=args.port, workers=args.workers,
                          max_request_bytes=args.max_request_bytes, access_log=args.access_log,
                          version=args.version, request_timeout=args.request_timeout)

    def ready(host, port):
        sys.stderr.write("envrepro: serving {} on http://{}:{} (workers: {})\n".format(
            spec.get("name") or spec["model_dir"], host, port, args.workers))
        sys.stderr.flush()

    def load_and_compile():
        model = _load(spec)
        compile_imported_later()
        if hasattr(gc, "freeze"):  # 3.7+: what compiling's fork set-up made joins the frozen model and libraries;
            gc.freeze()            # collections while serving skip them instead of walking them all (p99)
        return model

    serve(load_and_compile, config, on_ready=ready)
    return 0


def _resident(args, spec):
    """Load the model once, then answer predicts over a unix socket (envrepro_runtime.resident)."""
    from .resident import detach, module_files_stamp, serve_resident

    detach()
    model = _load(spec)
    compile_imported_later()
    if hasattr(gc, "freeze"):
        gc.freeze()

    def run_request(argv):
        request = _parser().parse_args(argv)
        if request.command != "predict" or read_spec(request.spec) != spec:
            sys.stderr.write("envrepro: error: a resident predictor got a request for another model\n")
            return EXIT_FAILED
        return run(request, spec, loaded=model)

    def ready():
        out = getattr(sys.stdout, "buffer", sys.stdout)
        out.write(b"ready\n")
        out.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)  # the host's pipe closes: it stops reading and goes on
        os.close(devnull)

    return serve_resident(args.socket, run_request, args.idle, args.watch, on_ready=ready,
                          is_stale=module_files_stamp())


def _stream(args, spec):
    from .stream import serve_stream

    return serve_stream(lambda: load(spec), _whose)


def read_spec(value):
    """``--spec``: the JSON itself, or ``@path`` of a file holding it (a signature can outgrow one argument)."""
    if value.startswith("@"):
        with open(value[1:], "rb") as fh:
            return json.loads(fh.read().decode("utf-8"))
    return json.loads(value)


def _parser():
    parser = argparse.ArgumentParser(prog="envrepro-worker")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--report", choices=["json", "text"], default="text",
                        help="How to report a failure: a JSON line for the host, or one line for a person.")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("predict")
    p.add_argument("--spec", required=True, help="The load spec: JSON, or @FILE holding it.")
    p.add_argument("--content-type", default="application/json")
    p.add_argument("--output")
    p.add_argument("--input-name", default="input", help="How to name the input in error messages.")
    s = sub.add_parser("serve")
    s.add_argument("--spec", required=True)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=5000)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--max-request-bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES)
    s.add_argument("--request-timeout", type=float, default=60.0)
    s.add_argument("--access-log", action="store_true")
    s.add_argument("--version", default="0")
    r = sub.add_parser("resident", help="Load the model once and answer predicts on a unix socket until idle "
                                        "(see envrepro_runtime.resident).")
    r.add_argument("--spec", required=True)
    r.add_argument("--socket", required=True, help="The unix socket to listen on.")
    r.add_argument("--idle", type=float, default=600.0, help="Exit after this many seconds without a request.")
    r.add_argument("--watch", action="append", default=[], help="Exit once this path is gone (repeatable).")
    t = sub.add_parser("stream", help="Score batches sent over stdin until it closes (see envrepro_runtime.stream).")
    t.add_argument("--spec", required=True)
    return parser


def _fail(args, spec, kind, stage, message, hint=None, path=None):
    if args.verbose:
        traceback.print_exc()
    if args.report == "json":  # the host reads it and words it (envrepro/launch.py)
        line = report_line(kind, stage, message, hint=hint, path=path)
    else:  # the server was exec'd: nobody is there to word it
        text, hint = describe({"kind": kind, "stage": stage, "message": message, "hint": hint,
                               "python": python_version()}, spec.get("name") or "MODEL")
        line = "envrepro: error: {}{}{}".format(path + ": " if path else "", text, " ({})".format(hint) if hint else "")
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
    return EXIT_USER_ERROR if kind in ("input", "format") else EXIT_FAILED


def _whose(exc):
    """"runtime" when the innermost frame of ``exc`` is envrepro's runtime code, else "model"."""
    here = os.path.dirname(os.path.abspath(__file__))
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return "runtime" if last and os.path.abspath(last).startswith(here + os.sep) else "model"


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().error("a command is required: predict, serve, stream or resident")
    return run(args, read_spec(args.spec))


def run(args, spec, loaded=None):
    """Run a parsed worker command; ``loaded`` is the model a resident predictor already loaded (predict only)."""
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="envrepro: %(levelname)s: %(message)s")
    stage = "serve" if args.command == "serve" else "load"
    try:
        if args.command == "predict":
            return _predict(args, spec, loaded)
        if args.command == "stream":
            return _stream(args, spec)
        if args.command == "resident":
            return _resident(args, spec)
        return _serve(args, spec)
    except PayloadError as exc:
        return _fail(args, spec, "input", "input", "{}: {}".format(getattr(args, "input_name", "request"),
                                                                   exc.message))
    except ModelLoadError as exc:
        return _fail(args, spec, "format", "load", exc.message, hint=exc.hint, path=exc.path)
    except ModelPredictError as exc:
        if args.verbose:
            sys.stderr.write(exc.details)
        args.verbose = False
        return _fail(args, spec, _whose(exc.__cause__), "predict", str(exc))
    except OutputError as exc:
        return _fail(args, spec, "input", "output", "cannot write the predictions to {}: {}".format(
            args.output, exc.args[0]))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if stage == "serve" and getattr(exc, "errno", None) in (98, 13, 99):  # EADDRINUSE, EACCES, EADDRNOTAVAIL
            return _fail(args, spec, "input", "serve", "cannot listen on {}:{}: {}".format(
                args.host, args.port, exc.strerror))
        return _fail(args, spec, _whose(exc), stage, "{}: {}".format(type(exc).__name__, exc))
