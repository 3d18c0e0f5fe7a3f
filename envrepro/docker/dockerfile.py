"""The Dockerfile text: a builder stage that installs the locked environment, a slim final stage that serves it.

Layout inside the image (fixed, so ``envrepro serve`` needs no configuration):

- ``/opt/model``: the model (with its lock); ``/opt/env``: the environment installed from the lock;
- envrepro itself in the base image's system Python (tooling only: nothing is installed into ``/opt/env``),
  from its wheel in the context, or ``envrepro==VERSION`` from the package index (see :mod:`.envrepro_source`);
- ``$ENVREPRO_HOME=/opt/envrepro-home`` with the worker's runtime directory built at image build time, so the
  container writes nothing and runs with a read-only root filesystem.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ..errors import EnvreproError
from .platforms import DOCKER_PLATFORMS
from .tooling import BUILDER_TOOLS

MODEL_DIR = "/opt/model"
ENV_PREFIX = "/opt/env"
ENVREPRO_HOME = "/opt/envrepro-home"
TOOLING_DIR = "/tmp/envrepro-tooling"
# With --bundle (a context that builds with no network): tooling wheels, the builder's own, and the bundle.
TOOLING_WHEELS = f"{TOOLING_DIR}/wheels"
BUILDER_TOOLING_DIR = "/tmp/envrepro-builder-tooling"
BUNDLE_DIR = "/tmp/envrepro-bundle"
PORT = 8080
UID = 10001  # fixed and numeric: Kubernetes' runAsNonRoot can only verify a numeric USER


@dataclass(frozen=True)
class ImageSpec:
    base_image: str
    wheel: str | None  # envrepro's wheel, a file name under tooling/; None: envrepro==version from the index
    platform: str  # conda subdir: linux-64 or linux-aarch64
    envrepro_version: str
    model_uuid: str | None
    lock_kind: str
    lock_content_hash: str
    lock_sha256: str
    # (context dir, absolute dir in the builder): file:// packages of the lock, placed where the lock says.
    vendored: list[tuple[str, str]] = field(default_factory=list)
    bundle: str | None = None  # file name under bundle/: the image installs from it, tooling from wheels


def install_command(bundle: str | None = None) -> str:
    """The builder's install step: exactly the lock, hash-checked, no solve (fails if the lock is stale); from
    the bundle's packages alone when there is one."""
    if bundle:
        return f"envrepro env create --from-bundle {BUNDLE_DIR}/{bundle} --prefix {ENV_PREFIX}"
    return f"envrepro env create -m {MODEL_DIR} --from-lock --prefix {ENV_PREFIX}"


def image_serve_command() -> list[str]:
    return ["envrepro", "serve", "-m", MODEL_DIR, "--env-prefix", ENV_PREFIX, "-h", "0.0.0.0", "-p", str(PORT)]


def _labels(spec: ImageSpec) -> str:
    labels = {
        "org.opencontainers.image.title": "envrepro model server",
        "org.opencontainers.image.base.name": spec.base_image,
        "envrepro.version": spec.envrepro_version,
        "envrepro.model.uuid": spec.model_uuid or "unknown",
        "envrepro.platform": spec.platform,
        "envrepro.lock.kind": spec.lock_kind,
        "envrepro.lock.content_hash": spec.lock_content_hash,
        "envrepro.lock.sha256": spec.lock_sha256,
    }
    return " \\\n      ".join(f"{key}={json.dumps(value)}" for key, value in labels.items())


# Every value written into the Dockerfile is checked: a newline in one (a model_uuid from an MLmodel, a path
# from a lock) would start a new instruction. Labels are also JSON-quoted, COPY paths in JSON form.
_WORD = re.compile(r"^[\x21-\x7e]{1,256}$")  # printable ASCII, no space
IMAGE_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,255}$")
_UNSAFE_PATH = re.compile(r"[\x00-\x1f\x7f$]")


def check_value(what: str, value: object, pattern: re.Pattern[str] = _WORD, *, path: str | None = None) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise EnvreproError(f"{what} {value!r} cannot be written into a Dockerfile", path=path,
                            hint="it must be plain printable text without spaces or line breaks")


def check_spec(spec: ImageSpec) -> None:
    """EnvreproError naming the first value that cannot be written into a Dockerfile as it is."""
    checks = [("base image", spec.base_image, IMAGE_REFERENCE), ("platform", spec.platform, _WORD),
              ("tooling wheel", spec.wheel or "none", _WORD), ("envrepro version", spec.envrepro_version, _WORD),
              ("the model's model_uuid (MLmodel)", spec.model_uuid or "unknown", _WORD),
              ("lock kind", spec.lock_kind, _WORD), ("the lock's content_hash", spec.lock_content_hash, _WORD),
              ("the lock's sha256", spec.lock_sha256, _WORD), ("bundle", spec.bundle or "none", _WORD)]
    for what, value, pattern in checks:
        check_value(what, value, pattern)
    for src, dst in spec.vendored:
        for path in (src, dst):
            if _UNSAFE_PATH.search(path):
                raise EnvreproError(f"the lock names a package directory {path!r} that cannot be written into a "
                                    "Dockerfile", hint="control characters and '$' are not allowed in it")


def render(spec: ImageSpec) -> str:
    check_spec(spec)
    tooling = f"{TOOLING_DIR}/constraints.txt"
    wheel = f"{TOOLING_DIR}/{spec.wheel}" if spec.wheel else f"envrepro=={spec.envrepro_version}"
    vendored = "".join(
        f"COPY {json.dumps([src + '/', dst + '/'])}\n" for src, dst in spec.vendored)
    if vendored:
        vendored = ("# Packages the lock names by file:// URL, put where the lock says (the lock stays unchanged).\n"
                    + vendored)
    if spec.bundle:  # everything is in the context: pip never asks an index, the environment comes from the bundle
        offline = f"--no-index --find-links {TOOLING_WHEELS} "
        builder_index = f"{offline}--find-links {BUILDER_TOOLING_DIR} "
        builder_tooling = f"COPY builder-tooling/ {BUILDER_TOOLING_DIR}/\n"
        payload = f"COPY bundle/ {BUNDLE_DIR}/\n"
        note = ("# Self-contained (--bundle): the packages and envrepro's tooling are in this context, so the build "
                "needs no\n# network, only the base image (load it first where there is no registry).\n")
    else:
        offline = builder_index = builder_tooling = ""
        payload = f"{vendored}COPY model/ {MODEL_DIR}/\n"
        note = ""
    probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{PORT}/ping', timeout=4)"
    healthcheck = json.dumps(["python", "-c", probe])
    # No `# syntax=` line: it would make BuildKit pull a frontend image, which air-gapped builders cannot.
    return f"""\
# Generated by envrepro {spec.envrepro_version} for model {spec.model_uuid or 'unknown'} ({spec.platform}).
#   docker build --platform {DOCKER_PLATFORMS[spec.platform]} -t NAME .
#   docker run --rm -p 8080:8080 NAME
# The environment is installed from model/conda-lock.yml with no solve; every package is hash-checked.
# Base images are pinned by tag only: envrepro writes this without reaching a registry, so it knows no digest.
{note}
# -- builder: envrepro's installer tooling + the locked environment at {ENV_PREFIX} --------------------------
FROM {spec.base_image} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 UV_NO_CACHE=1 ENVREPRO_PROGRESS=1
COPY tooling/ {TOOLING_DIR}/
{builder_tooling}RUN pip install {builder_index}-c {tooling} {wheel} {' '.join(BUILDER_TOOLS)}
{payload}RUN {install_command(spec.bundle)}

# -- final: system python with envrepro (tooling only), the environment, the model; non-root -----------------
FROM {spec.base_image}
LABEL {_labels(spec)}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    ENVREPRO_HOME={ENVREPRO_HOME}
COPY tooling/ {TOOLING_DIR}/
RUN pip install {offline}-c {tooling} {wheel} \\
 && rm -rf {TOOLING_DIR} \\
 && python -c "from envrepro.launch import runtime_dir; runtime_dir()" \\
 && useradd --system --uid {UID} --user-group --create-home --home-dir /home/envrepro --shell /usr/sbin/nologin envrepro
COPY --from=builder {ENV_PREFIX} {ENV_PREFIX}
COPY model/ {MODEL_DIR}/
USER {UID}:{UID}
EXPOSE {PORT}
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD {healthcheck}
CMD {json.dumps(image_serve_command())}
"""


DOCKERIGNORE = """\
# The context is generated by envrepro: keep caches and its own bookkeeping out of the image.
**/__pycache__
**/*.py[co]
.envrepro-context.json
"""
