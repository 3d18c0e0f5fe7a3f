"""Container images for a model: a build context whose image installs exactly the model's lock.

See docs/docker.md. Public API: :func:`generate_context` (the build context), :func:`build_image`
(``docker build`` of it), :func:`engine_problem` (why no Docker engine is reachable, or None).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

# Imported on first use: the CLI reads the platform table at start-up and must not pay for the rest.
_LAZY = {"DockerContext": ".context", "generate_context": ".context", "build_image": ".engine",
         "engine_problem": ".engine", "require_engine": ".engine"}
__getattr__ = lazy_attributes(__name__, _LAZY, globals())

if TYPE_CHECKING:
    from .context import DockerContext, generate_context
    from .engine import build_image, engine_problem, require_engine

__all__ = ["DockerContext", "build_image", "engine_problem", "generate_context", "require_engine"]
