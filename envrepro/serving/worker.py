"""Entry point that runs *inside* a model's environment: ``predict`` once, or ``serve``.

Started as ``<env python> -I <runtime>/bootstrap.py predict|serve ...`` by the CLI/API on the host; uses
argparse, not click, because the model's environment does not have envrepro's tooling dependencies.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, Sequence

from .payload import PayloadError, Schema, parse_request, predictions_json

EXIT_USER_ERROR = 2


def _load(model: str) -> tuple[Any, Any]:
    from envrepro.examples import load_input_example
    from envrepro.load import load_model

    loaded = load_model(model, check_requirements=False)
    try:
        example = load_input_example(loaded.model_dir.path, loaded.metadata.saved_input_example_info)
    except Exception:  # an unreadable example must not stop serving; it only disables input checks
        example = None
    return loaded, example


def _content_type(kind: str) -> str:
    return {"json": "application/json", "csv": "text/csv"}[kind]


def _predict(args: argparse.Namespace) -> int:
    from envrepro.errors import EnvreproError

    body = sys.stdin.buffer.read() if args.input == "-" else open(args.input, "rb").read()
    try:
        model, example = _load(args.model)
        data, params = parse_request(body, _content_type(args.content_type))
        schema = Schema.from_example(example)
        if schema is not None:
            data = schema.conform(data)
    except EnvreproError as exc:
        print(f"envrepro: error: {exc.format()}", file=sys.stderr)
        return EXIT_USER_ERROR
    except PayloadError as exc:
        print(f"envrepro: error: {args.input_name or args.input}: {exc.message}", file=sys.stderr)
        return EXIT_USER_ERROR
    predictions = model.predict(data, params=params) if params else model.predict(data)
    out = predictions_json(predictions)
    if args.output in (None, "-"):
        sys.stdout.buffer.write(out + b"\n")
    else:
        tmp = f"{args.output}.tmp-{os.getpid()}"
        with open(tmp, "wb") as fh:
            fh.write(out + b"\n")
        os.replace(tmp, args.output)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from envrepro import __version__

    from .server import serve

    def ready(host: str, port: int) -> None:
        print(f"envrepro: serving {args.model} on http://{host}:{port} (workers: {args.workers})",
              file=sys.stderr, flush=True)

    serve(lambda: _load(args.model), host=args.host, port=args.port, workers=args.workers,
          max_request_bytes=args.max_request_bytes, version=__version__, on_ready=ready)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="envrepro-worker")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict")
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--content-type", choices=["json", "csv"], default="json")
    p.add_argument("--output")
    p.add_argument("--input-name", help="How to name the input in error messages.")
    s = sub.add_parser("serve")
    s.add_argument("--model", required=True)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=5000)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--max-request-bytes", type=int, default=50 * 1024 * 1024)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="envrepro: %(levelname)s: %(message)s")
    return _predict(args) if args.command == "predict" else _serve(args)


if __name__ == "__main__":
    sys.exit(main())
