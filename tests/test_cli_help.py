"""``-h`` is help on every command, as ``--help`` is, except ``serve``, where ``-h`` is the host (as in MLflow)."""

from __future__ import annotations

import click
from click.testing import CliRunner

from envrepro.cli import cli
from tests.conftest import run_cli


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
    return found


def test_dash_h_is_help_as_a_user_types_it():
    for args in (["-h"], ["predict", "-h"]):
        proc = run_cli(*args)
        assert proc.returncode == 0 and proc.stdout.startswith("Usage: envrepro"), (args, proc.stderr)
        assert "No such option" not in proc.stderr


def test_every_command_takes_dash_h_and_help_except_serve_where_dash_h_is_the_host():
    runner = CliRunner()
    commands = _commands(cli)
    assert ("env", "create") in commands and ("serve",) in commands
    for args in commands:
        for flag in ("-h", "--help"):
            if args == ("serve",) and flag == "-h":
                continue
            result = runner.invoke(cli, [*args, flag], prog_name="envrepro")
            assert result.exit_code == 0, (args, flag, result.output)
            assert result.output.startswith(f"Usage: envrepro {' '.join(args)}"), (args, flag, result.output)
    serve_help = runner.invoke(cli, ["serve", "--help"], prog_name="envrepro").output
    assert "-h, --host" in serve_help and "-h, --help" not in serve_help
    result = runner.invoke(cli, ["serve", "-h"], prog_name="envrepro")
    assert result.exit_code == 2 and "Option '-h' requires an argument" in result.output
