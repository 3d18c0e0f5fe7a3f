"""A build tool started by envrepro dies with it: a killed build leaves no orphan writing into the prefix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from tests.e2e.test_reproduce import _processes_mentioning

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")


def test_tool_is_killed_with_envrepro():
    marker = f"envrepro-orphan-probe-{uuid.uuid4().hex}"
    child = f"time.sleep(60) {marker}"  # the tool's own command line (the parent's script spells it apart)
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from envrepro.envs.pip_install import run_tool
        from envrepro.envs.progress import Progress
        run_tool([sys.executable, "-c", "import time; time.sleep(60)", {marker!r}], Progress(quiet=True),
                 failure="probe")
    """)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not _processes_mentioning(child):
        time.sleep(0.02)
    assert _processes_mentioning(child), "the tool never started"
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and _processes_mentioning(child):
        time.sleep(0.02)
    assert _processes_mentioning(child) == []
