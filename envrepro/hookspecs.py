"""The plugin contract. Flavors (built-in and third-party alike) implement these hooks.

Plugins are modules registered under the ``envrepro`` entry-point group. Each hook is documented in
``docs/plugins.md``; ``tests/test_hookspecs.py`` fails when a hook is left undocumented.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pluggy

PROJECT_NAME = "envrepro"
ENTRY_POINT_GROUP = "envrepro"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class Predictor(Protocol):
    """What a flavor's runtime loader returns: ``predict(data, params=None)``, and the model it wraps as
    ``raw_model`` (what ``PyFuncModel.unwrap()`` returns)."""

    raw_model: Any

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any: ...


@dataclass(frozen=True)
class SaveResult:
    """What a flavor's ``save`` writes into MLmodel.

    ``flavor_conf`` becomes ``flavors.<name>``; ``pyfunc_conf`` is merged into ``flavors.python_function``
    (``loader_module``, ``python_version`` and ``env`` are filled in by the core).
    ``code_modules`` names Python modules that define the model's own classes (for static inference).
    """

    flavor_conf: dict[str, Any]
    pyfunc_conf: dict[str, Any] = field(default_factory=dict)
    code_modules: tuple[str, ...] = ()


@dataclass(frozen=True)
class Flavor:
    """A model flavor: how to recognise, save and load one kind of model.

    name:
        the key under ``flavors:`` in MLmodel (``sklearn``, ``pytorch``, ``python_function``...).
    loader_module:
        the module written as ``python_function.loader_module``: the one *MLflow* imports to load the model
        (``mlflow.sklearn`` for the sklearn flavor, so MLflow loads envrepro's models). envrepro itself chooses
        by the flavor keys in MLmodel and loads through ``runtime_loader``.
    can_handle(obj) -> bool:
        whether ``save_model`` may pick this flavor for ``obj`` when no ``flavor=`` is given.
    default_requirements() -> list[str]:
        pip requirements every model of this flavor needs, pinned to the versions installed now.
    save(obj, path, options) -> SaveResult:
        write the artifact into the model directory ``path``; ``options`` holds flavor-specific keyword
        arguments given to ``save_model`` (e.g. ``serialization_format``, ``artifacts``), already checked
        against ``options`` below.
    options:
        the names of the keyword arguments ``save`` accepts; ``save_model`` refuses any other with one error
        that lists these.
    runtime_loader:
        the module that loads the model *inside its environment* (and in-process for ``envrepro.load_model``):
        it defines ``load(model_dir, conf, pyfunc_conf)`` returning a :class:`Predictor`. It runs under the
        model's own Python (3.6 or later) with only the standard library and the flavor's own libraries, so it
        follows the runtime's contract (see runtime/__init__.py) and must not import envrepro or pluggy. envrepro
        copies it (a module, or a package with its submodules) into the runtime directory it puts on the
        environment's ``sys.path``; it may import ``envrepro_runtime.errors`` and ``envrepro_runtime.python_model``.
    loads_mlflow_models:
        whether ``runtime_loader`` also reads models that MLflow saved under this flavor's key (MLflow's
        sklearn layout, say), so envrepro loads them without importing MLflow. When False, models saved by
        MLflow with this key are loaded by MLflow's own loader, in their environment.
    priority:
        higher wins when several flavors can handle the same object.
    aliases:
        other names ``save_model(flavor=...)`` accepts for this flavor (``pyfunc`` for ``python_function``).
    description:
        one line for ``envrepro flavors``.
    """

    name: str
    loader_module: str
    can_handle: Callable[[Any], bool]
    default_requirements: Callable[[], list[str]]
    save: Callable[[Any, Path, Mapping[str, Any]], SaveResult]
    runtime_loader: str
    loads_mlflow_models: bool = False
    options: frozenset[str] = frozenset()
    priority: int = 0
    aliases: tuple[str, ...] = ()
    description: str = ""


class EnvreproSpecs:
    """Hook specifications for envrepro plugins."""

    @hookspec
    def envrepro_flavors(self) -> Iterable[Flavor]:
        """Return (or yield) the :class:`Flavor` objects this plugin provides.

        Called once per plugin manager (the result is kept). A plugin may provide several flavors; two plugins
        providing the same flavor name is an error naming both plugins and their distributions.
        """
        raise NotImplementedError
