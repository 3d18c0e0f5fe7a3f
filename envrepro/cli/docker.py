"""``envrepro generate-dockerfile`` and ``envrepro build-docker``: container images for a model (docs/docker.md)."""

from __future__ import annotations

import tempfile

import click

from ..docker.platforms import DOCKER_PLATFORMS
from .options import CHANNEL_ALIAS, MODEL, MODEL_HELP, QUIET, alias_map


def _image_options(func):
    options = [
        click.option("-m", "--model", "model_path", required=True, type=MODEL, help=MODEL_HELP),
        click.option("--platform", type=click.Choice(list(DOCKER_PLATFORMS)), default="linux-64",
                     show_default=True, help="Platform of the image (and of the lock it installs)."),
        click.option("--pip-only", is_flag=True,
                     help="When the model needs locking: lock python_env.yaml/requirements.txt (a venv on the "
                          "image's Python) instead of conda.yaml."),
        CHANNEL_ALIAS,
        click.option("--base-image", default=None, metavar="IMAGE",
                     help="Base of both stages instead of python:X.Y-slim (e.g. a registry mirror's copy)."),
        click.option("--bundle", is_flag=True,
                     help="Make the context build with no network: the model's packages as a bundle and envrepro's "
                          "tooling as wheels (only the base image is needed)."),
        QUIET,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _generate(model_path: str, output_dir: str, platform: str, pip_only: bool, channel_aliases: tuple[str, ...],
              base_image: str | None, bundle: bool, quiet: bool):
    from ..docker import generate_context

    context = generate_context(model_path, output_dir, platform=platform, pip_only=pip_only,
                               channel_alias=alias_map(channel_aliases), base_image=base_image,
                               quiet=quiet, bundle=bundle)
    for note in context.notes:
        click.echo(f"envrepro: {note}", err=True)
    return context


@click.command("generate-dockerfile")
@_image_options
@click.option("-d", "--output-dir", default="envrepro-docker", show_default=True, type=click.Path(),
              help="Where to write the build context (new, empty, or a context generated earlier).")
def generate_dockerfile(model_path: str, platform: str, pip_only: bool, channel_aliases: tuple[str, ...],
                        base_image: str | None, bundle: bool, quiet: bool, output_dir: str) -> None:
    """Write a Docker build context whose image installs exactly the model's locked environment and serves it.

    \b
    envrepro generate-dockerfile -m my-model -d my-model-image
    docker build -t my-model my-model-image && docker run --rm -p 8080:8080 my-model
    """
    context = _generate(model_path, output_dir, platform, pip_only, channel_aliases, base_image, bundle, quiet)
    click.echo(f"wrote {context.path} (Dockerfile, model with its {context.lock_kind} lock, base "
               f"{context.base_image}); build it with: docker build -t NAME {context.path}")


@click.command("build-docker")
@_image_options
@click.option("-n", "--name", required=True, help="Image name (and tag), e.g. my-model:1.")
@click.option("-d", "--output-dir", default=None, type=click.Path(),
              help="Keep the build context here (default: a temporary directory, removed after the build).")
def build_docker(model_path: str, platform: str, pip_only: bool, channel_aliases: tuple[str, ...],
                 base_image: str | None, bundle: bool, quiet: bool, name: str, output_dir: str | None) -> None:
    """Generate the build context (see generate-dockerfile) and build it with the Docker engine."""
    from ..docker import build_image, require_engine

    require_engine(model_path)  # before any locking or wheel building
    if output_dir is not None:
        context = _generate(model_path, output_dir, platform, pip_only, channel_aliases, base_image, bundle, quiet)
        build_image(context.path, name, platform=platform, quiet=quiet)
    else:
        with tempfile.TemporaryDirectory(prefix="envrepro-docker-") as tmp:
            context = _generate(model_path, f"{tmp}/context", platform, pip_only, channel_aliases, base_image,
                                bundle, quiet)
            build_image(context.path, name, platform=platform, quiet=quiet)
    click.echo(f"built {name}; run it with: docker run --rm -p 8080:8080 {name}")
