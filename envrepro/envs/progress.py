"""Terminal progress for environment builds: one status line on a TTY, silence otherwise or with -q."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO


class Progress:
    """Prints build steps to stderr when it is a terminal (``ENVREPRO_PROGRESS=1`` forces it on)."""

    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None):
        self.stream = stream if stream is not None else sys.stderr
        forced = os.environ.get("ENVREPRO_PROGRESS") == "1"
        self.enabled = not quiet and (forced or _isatty(self.stream))
        self._lock = threading.Lock()
        self._status_len = 0
        self._last = 0.0

    def step(self, message: str) -> None:
        """A line that stays (``envrepro: solving ...``)."""
        if not self.enabled:
            return
        with self._lock:
            self._clear()
            self.stream.write(f"envrepro: {message}\n")
            self.stream.flush()

    def status(self, message: str, *, force: bool = False) -> None:
        """A transient line, overwritten by the next one; throttled to ~10 updates a second."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        with self._lock:
            text = f"  {message}"[:120]
            self.stream.write("\r" + text.ljust(self._status_len))
            self.stream.flush()
            self._status_len = len(text)

    def finish(self) -> None:
        if self.enabled:
            with self._lock:
                self._clear()

    def _clear(self) -> None:
        if self._status_len:
            self.stream.write("\r" + " " * self._status_len + "\r")
            self._status_len = 0


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
