"""``-h`` is help on every command, as ``--help`` is, except ``serve``, where ``-h`` is the host (as in MLflow)."""

from __future__ import annotations

import json

import click

from tests.conftest import ROOT, run_cli, run_python


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # the top group loads its commands lazily: .commands is empty
        command = group.get_command(ctx, name)
        assert command is not None, name
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
    # In a fresh interpreter: click caches a command's help option the first time it is asked for it, so a test
    # that invoked a command on its own (outside the group, e.g. tests/audit) would leave it with --help only.
    out = run_python("""
        import json
        from click.testing import CliRunner
        from envrepro.cli import cli
        from tests.test_cli_help import _commands

        runner = CliRunner()
        results = []
        for args in _commands(cli):
            for flag in ("-h", "--help"):
                result = runner.invoke(cli, [*args, flag], prog_name="envrepro")
                results.append([list(args), flag, result.exit_code, result.output])
        print(json.dumps(results))
    """, cwd=ROOT).stdout
    results = {(tuple(args), flag): (code, output) for args, flag, code, output in json.loads(out)}
    assert (("env", "create"), "-h") in results and (("serve",), "--help") in results
    for (args, flag), (code, output) in results.items():
        if args == ("serve",) and flag == "-h":
            assert code == 2 and "Option '-h' requires an argument" in output, output
            continue
        assert code == 0, (args, flag, output)
        assert output.startswith(f"Usage: envrepro {' '.join(args)}"), (args, flag, output)
    serve_help = results[("serve",), "--help"][1]
    assert "-h, --host" in serve_help and "-h, --help" not in serve_help
