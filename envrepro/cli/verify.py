"""``envrepro verify``: predict in a reproduced environment and compare (exit 0 same, 1 different, 2 error)."""

from __future__ import annotations

import json
import sys

import click

from .options import CHANNEL_ALIAS, MODEL, MODEL_HELP, QUIET, RESOLVE_AS_OF, engine_options


@click.command("verify")
@click.option("-m", "--model", "model_path", required=True, type=MODEL, help=MODEL_HELP)
@click.option("--env-manager", type=click.Choice(["uv", "virtualenv", "conda", "local"]), default=None,
              help="The environment to check [default: as for predict; a bundle's own].")
@click.option("--against", default=None, metavar="MANAGER|PREFIX",
              help="Compare with another reproduction (uv, virtualenv, conda, local) or an environment built "
                   "earlier, instead of the output recorded at save time.")
@click.option("--expected", type=click.Path(dir_okay=False), default=None,
              help="Compare with these predictions (JSON, as `envrepro predict` writes them).")
@click.option("-i", "--input", "input_path", type=click.Path(dir_okay=False), default=None,
              help="Predict on this input instead of the input example (needs --against or --expected).")
@click.option("-t", "--content-type", type=click.Choice(["json", "csv", "parquet"]), default="json",
              show_default=True, help="Format of -i.")
@click.option("--rtol", type=click.FloatRange(min=0), default=1e-6, show_default=True,  # verify.DEFAULT_RTOL
              help="Relative tolerance for numbers.")
@click.option("--atol", type=click.FloatRange(min=0), default=1e-9, show_default=True,  # verify.DEFAULT_ATOL
              help="Absolute tolerance for numbers.")
@click.option("--pip-requirements-override", "overrides", multiple=True, metavar="REQ",
              help="Check the environment with REQ on top (repeatable): does this upgrade change the output?")
@click.option("--env-prefix", type=click.Path(), default=None,
              help="Check an environment built earlier at this path (no build).")
@click.option("--conda-exe", type=click.Path(), default=None,
              help="Use this conda/mamba/micromamba instead of the embedded engine (also ENVREPRO_CONDA_EXE).")
@CHANNEL_ALIAS
@RESOLVE_AS_OF
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@QUIET
def verify_cmd(model_path: str, env_manager: str | None, against: str | None, expected: str | None,
               input_path: str | None, content_type: str, rtol: float, atol: float, overrides: tuple[str, ...],
               env_prefix: str | None, conda_exe: str | None, channel_aliases: tuple[str, ...],
               resolve_as_of: str | None, as_json: bool, quiet: bool) -> None:
    """Rebuild (or reuse) the model's environment, predict there, and compare with the recorded output.

    \b
    envrepro verify -m my-model                      # against the output recorded by save_model
    envrepro verify -m my-model.tar                  # a bundle, installed from its packages
    envrepro verify -m mlflow-model --env-manager uv --against conda
    envrepro verify -m my-model --pip-requirements-override numpy==2.1.0
    Exit code: 0 the outputs match, 1 they differ (the differences are listed), 2 an error.
    """
    from ..verify import verify_model

    options = engine_options(conda_exe, channel_aliases, resolve_as_of)
    result = verify_model(model_path, env_manager=env_manager, against=against, expected=expected,
                          input_path=input_path, content_type=content_type, rtol=rtol, atol=atol,
                          pip_requirements_override=list(overrides), env_prefix=env_prefix, quiet=quiet, **options)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(result.summary())
        for line in result.diff_lines():
            click.echo(line)
    sys.exit(0 if result.ok else 1)
