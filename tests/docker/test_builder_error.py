"""The line of a failed wheel build that says why, as pip and uv print it (their closing summaries say only
that it failed)."""

from __future__ import annotations

from envrepro.docker.envrepro_source import builder_error

# pip 23 building with setup.py (setuptools 65, no `wheel`): the cause is inside the subprocess's output.
PIP_LEGACY = """\
Processing /tmp/envrepro-wheel-x/src
  Preparing metadata (setup.py): finished with status 'done'
Building wheels for collected packages: envrepro
  Building wheel for envrepro (setup.py): started
  error: subprocess-exited-with-error

  × python setup.py bdist_wheel did not run successfully.
  │ exit code: 1
  ╰─> [6 lines of output]
      usage: setup.py [global_opts] cmd1 [cmd1_opts] [cmd2 [cmd2_opts] ...]
         or: setup.py --help [cmd1 cmd2 ...]
         or: setup.py --help-commands
         or: setup.py cmd --help

      error: invalid command 'bdist_wheel'
      [end of output]

  note: This error originates from a subprocess, and is likely not a problem with pip.
  ERROR: Failed building wheel for envrepro
  Running setup.py clean for envrepro
Failed to build envrepro
ERROR: Could not build wheels for envrepro, which is required to install pyproject.toml-based projects
"""

# uv build: the backend's stderr comes last, under uv's own tree of "failed" lines.
UV = """\
Building wheel...
  × Failed to build `/tmp/envrepro-wheel-x/src`
  ├─▶ The build backend returned an error
  ╰─▶ Call to `setuptools.build_meta.build_wheel` failed (exit status: 1)

      [stdout]
      running bdist_wheel

      [stderr]
      error: invalid command 'bdist_wheel'

      hint: This usually indicates a problem with the package or the build environment.
"""

# pip with no index: the build requirements cannot be fetched.
PIP_NO_INDEX = """\
Processing /tmp/envrepro-wheel-x/src
  Installing build dependencies: finished with status 'error'
  error: subprocess-exited-with-error

  × pip subprocess to install build dependencies did not run successfully.
  │ exit code: 1
  ╰─> [2 lines of output]
      ERROR: Could not find a version that satisfies the requirement setuptools>=68 (from versions: none)
      ERROR: No matching distribution found for setuptools>=68
      [end of output]

  note: This error originates from a subprocess, and is likely not a problem with pip.
error: subprocess-exited-with-error
"""


def test_the_builders_own_error_not_its_summary():
    assert builder_error(PIP_LEGACY) == "error: invalid command 'bdist_wheel'"
    assert builder_error(UV) == "error: invalid command 'bdist_wheel'"
    assert builder_error(PIP_NO_INDEX) == "ERROR: No matching distribution found for setuptools>=68"


def test_without_an_error_line_the_last_line_that_says_something():
    assert builder_error("running bdist_wheel\nKilled\n") == "Killed"
    assert builder_error("") == "no output"
