"""Build the plugin manager: every flavor, built-in or not, comes from the ``envrepro`` entry points."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from .errors import FlavorError
from .hookspecs import ENTRY_POINT_GROUP, PROJECT_NAME, EnvreproSpecs, Flavor

DISABLE_ENV_VAR = "ENVREPRO_DISABLE_PLUGINS"


@dataclass(frozen=True)
class PluginInfo:
    name: str          # entry-point name
    module: str        # entry-point value
    distribution: str  # the distribution that declares it
    disabled: bool
    error: str | None = None


def disabled_plugins() -> set[str]:
    raw = os.environ.get(DISABLE_ENV_VAR, "")
    return {name.strip() for name in raw.replace(";", ",").split(",") if name.strip()}


def _entry_points() -> list[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


@functools.lru_cache(maxsize=None)
def _build(disabled: frozenset[str]) -> tuple[pluggy.PluginManager, tuple[PluginInfo, ...]]:
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(EnvreproSpecs)
    infos = []
    seen: set[str] = set()
    for ep in _entry_points():
        dist = ep.dist.name if ep.dist is not None else "?"
        if ep.name in seen:  # same distribution visible twice on sys.path (e.g. editable + build dir)
            continue
        seen.add(ep.name)
        if ep.name in disabled:
            infos.append(PluginInfo(ep.name, ep.value, dist, disabled=True))
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # a broken third-party plugin must not take the tool down
            infos.append(PluginInfo(ep.name, ep.value, dist, disabled=False, error=f"{type(exc).__name__}: {exc}"))
            continue
        infos.append(PluginInfo(ep.name, ep.value, dist, disabled=False))
    return pm, tuple(infos)


def plugin_manager() -> pluggy.PluginManager:
    return _build(frozenset(disabled_plugins()))[0]


def list_plugins() -> tuple[PluginInfo, ...]:
    return _build(frozenset(disabled_plugins()))[1]


def reset() -> None:
    """Forget the cached manager (tests; after installing a plugin in-process)."""
    _build.cache_clear()


def flavors() -> dict[str, tuple[Flavor, str]]:
    """Registered flavors by name, each with the plugin that provides it."""
    pm = plugin_manager()
    found: dict[str, tuple[Flavor, str]] = {}
    for impl in pm.hook.envrepro_flavors.get_hookimpls():
        plugin_name = pm.get_name(impl.plugin) or "?"
        for flavor in impl.function() or ():
            if not isinstance(flavor, Flavor):
                raise FlavorError(
                    f"plugin {plugin_name!r} returned {type(flavor).__name__}, expected envrepro.hookspecs.Flavor"
                )
            if flavor.name in found:
                raise FlavorError(
                    f"flavor {flavor.name!r} is provided by both {found[flavor.name][1]!r} and {plugin_name!r}",
                    hint=f"disable one with {DISABLE_ENV_VAR}={plugin_name}",
                )
            found[flavor.name] = (flavor, plugin_name)
    return found


def get_flavor(name: str) -> Flavor:
    registered = flavors()
    if name in registered:
        return registered[name][0]
    for flavor, _ in registered.values():
        if name in flavor.aliases:
            return flavor
    raise FlavorError(
        f"unknown flavor {name!r}",
        hint=f"registered flavors: {', '.join(sorted(registered)) or 'none'}; see `envrepro flavors`",
    )


def flavor_for_object(obj: Any) -> Flavor:
    candidates = [f for f, _ in flavors().values() if _safe_can_handle(f, obj)]
    if not candidates:
        raise FlavorError(
            f"no registered flavor can save an object of type {type(obj).__module__}.{type(obj).__qualname__}",
            hint="pass flavor=..., wrap it in an envrepro.PythonModel, or install a flavor plugin",
        )
    return max(candidates, key=lambda f: f.priority)


def _safe_can_handle(flavor: Flavor, obj: Any) -> bool:
    try:
        return bool(flavor.can_handle(obj))
    except Exception:
        return False
