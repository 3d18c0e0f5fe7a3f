"""The plugin manager: envrepro's built-in flavors first, then the ``envrepro`` entry-point group.

Shaped after conda's ``conda/plugins/manager.py``: a :class:`pluggy.PluginManager` subclass that registers the
built-in plugin modules directly (they need no entry-point metadata), then loads third-party entry points,
validates every hook implementation (``check_pending``: a misspelled hook name is reported, not ignored), and
runs each hook once per manager. A plugin that fails to import or to validate is skipped with a warning naming
it; the errors that follow (an unknown flavor, an unloadable model) name it again.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from importlib import import_module, metadata
from typing import Any

import pluggy

from .errors import FlavorError
from .hookspecs import ENTRY_POINT_GROUP, PROJECT_NAME, EnvreproSpecs, Flavor

log = logging.getLogger(__name__)
DISABLE_ENV_VAR = "ENVREPRO_DISABLE_PLUGINS"
BUILTIN_DISTRIBUTION = "envrepro"
# The built-in flavor plugins (flavors/ on disk), by plugin name: registered like any plugin, just first.
BUILTIN_PLUGINS = {"sklearn": "envrepro_flavors.sklearn", "pytorch": "envrepro_flavors.pytorch",
                   "pyfunc": "envrepro_flavors.pyfunc"}


@dataclass(frozen=True)
class PluginInfo:
    name: str          # plugin name (the entry-point name for third-party plugins)
    module: str        # the module registered
    distribution: str  # the distribution that provides it
    disabled: bool
    error: str | None = None


def disabled_plugins() -> set[str]:
    raw = os.environ.get(DISABLE_ENV_VAR, "")
    return {name.strip() for name in raw.replace(";", ",").split(",") if name.strip()}


class EnvreproPluginManager(pluggy.PluginManager):
    """Built-ins, then entry points; hook results computed once (until a plugin is registered or removed)."""

    def __init__(self, disabled: frozenset[str] = frozenset()) -> None:
        super().__init__(PROJECT_NAME)
        self.add_hookspecs(EnvreproSpecs)
        self.disabled = disabled
        self.infos: list[PluginInfo] = []
        self._distributions: dict[str, str] = {}  # plugin name -> distribution
        self._flavors: dict[str, tuple[Flavor, str]] | None = None

    # -- loading -----------------------------------------------------------------------------------------
    def load_builtins(self) -> None:
        for name, module in BUILTIN_PLUGINS.items():
            self._load(name, module, BUILTIN_DISTRIBUTION, lambda module=module: import_module(module))

    def load_entrypoints(self, group: str = ENTRY_POINT_GROUP) -> None:
        seen: set[tuple[str, str]] = set()
        for ep in sorted(metadata.entry_points(group=group), key=lambda ep: ep.name):
            dist = ep.dist.name if ep.dist is not None else "?"
            if (ep.name, ep.value) in seen or ep.value in BUILTIN_PLUGINS.values():
                continue  # the same distribution seen twice on sys.path, or an old install's built-in entry
            seen.add((ep.name, ep.value))
            if self.has_plugin(ep.name):
                owner = self._distributions.get(ep.name, "?")
                self._fail(ep.name, ep.value, dist, f"the plugin name {ep.name!r} is taken by {owner}")
                continue
            self._load(ep.name, ep.value, dist, ep.load)

    def _load(self, name: str, module: str, dist: str, load: Any) -> None:
        if name in self.disabled:
            self.infos.append(PluginInfo(name, module, dist, disabled=True))
            return
        try:
            plugin = load()
            self.register(plugin, name=name)
        except Exception as exc:  # a broken third-party plugin must not take the tool down
            self._fail(name, module, dist, f"{type(exc).__name__}: {exc}")
            return
        try:
            self.check_pending()
        except pluggy.PluginValidationError as exc:  # e.g. a misspelled hook: it would silently never run
            self.unregister(name=name)
            self._fail(name, module, dist, str(exc).strip())
            return
        self._distributions[name] = dist
        self.infos.append(PluginInfo(name, module, dist, disabled=False))

    def _fail(self, name: str, module: str, dist: str, error: str) -> None:
        log.warning("plugin %s (%s, from %s) is not loaded: %s", name, module, dist, error)
        self.infos.append(PluginInfo(name, module, dist, disabled=False, error=error))

    def register(self, plugin: object, name: str | None = None) -> str | None:
        self._flavors = None
        return super().register(plugin, name)

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        self._flavors = None
        return super().unregister(plugin, name)

    # -- what the hooks say ------------------------------------------------------------------------------
    def distribution_of(self, plugin_name: str) -> str:
        return self._distributions.get(plugin_name, "?")

    def flavors(self) -> dict[str, tuple[Flavor, str]]:
        """Registered flavors by name, each with the plugin that provides it (hooks run once)."""
        if self._flavors is None:
            self._flavors = self._collect_flavors()
        return self._flavors

    def _collect_flavors(self) -> dict[str, tuple[Flavor, str]]:
        found: dict[str, tuple[Flavor, str]] = {}
        for impl in self.hook.envrepro_flavors.get_hookimpls():
            plugin_name = self.get_name(impl.plugin) or "?"
            provided: Any = impl.function() or ()  # the plugin's hook: checked item by item below
            for flavor in provided:
                if not isinstance(flavor, Flavor):
                    raise FlavorError(f"plugin {plugin_name!r} returned {type(flavor).__name__}, expected "
                                      "envrepro.hookspecs.Flavor")
                if flavor.name in found:
                    other = found[flavor.name][1]
                    raise FlavorError(
                        f"flavor {flavor.name!r} is provided by both {other!r} and {plugin_name!r} (distributions "
                        f"{self.distribution_of(other)} and {self.distribution_of(plugin_name)})",
                        hint=f"disable one with {DISABLE_ENV_VAR}={plugin_name}",
                    )
                found[flavor.name] = (flavor, plugin_name)
        return found

    def broken(self) -> list[PluginInfo]:
        return [info for info in self.infos if info.error]


@functools.cache
def _manager(disabled: frozenset[str]) -> EnvreproPluginManager:
    pm = EnvreproPluginManager(disabled)
    pm.load_builtins()
    pm.load_entrypoints()
    unknown = sorted(disabled - {info.name for info in pm.infos})
    if unknown:
        log.warning("%s names %s, which %s no plugin (plugins: %s)", DISABLE_ENV_VAR, ", ".join(unknown),
                    "is" if len(unknown) == 1 else "are", ", ".join(sorted(i.name for i in pm.infos)))
    return pm


def plugin_manager() -> EnvreproPluginManager:
    return _manager(frozenset(disabled_plugins()))


def list_plugins() -> tuple[PluginInfo, ...]:
    return tuple(plugin_manager().infos)


def reset() -> None:
    """Forget the manager (tests; after installing a plugin in-process)."""
    _manager.cache_clear()


def flavors() -> dict[str, tuple[Flavor, str]]:
    """Registered flavors by name, each with the plugin that provides it."""
    return plugin_manager().flavors()


def broken_plugins_note() -> str | None:
    """A note naming the plugins that failed to load, for errors about a flavor that may be theirs."""
    broken = plugin_manager().broken()
    if not broken:
        return None
    return "plugins that failed to load: " + "; ".join(f"{p.name} from {p.distribution} ({p.error})" for p in broken)


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name`` (or one of its ``aliases``), for ``save_model(flavor=...)``."""
    registered = flavors()
    if name in registered:
        return registered[name][0]
    for flavor, _ in registered.values():
        if name in flavor.aliases:
            return flavor
    hint = f"registered flavors: {', '.join(sorted(registered)) or 'none'}; see `envrepro flavors`"
    note = broken_plugins_note()
    raise FlavorError(f"unknown flavor {name!r}", hint=f"{hint}; {note}" if note else hint)


def flavor_for_object(obj: Any) -> Flavor:
    candidates = [f for f, _ in flavors().values() if _safe_can_handle(f, obj)]
    if not candidates:
        note = broken_plugins_note()
        raise FlavorError(
            f"no registered flavor can save an object of type {type(obj).__module__}.{type(obj).__qualname__}",
            hint="pass flavor=..., wrap it in an envrepro.PythonModel, or install a flavor plugin"
                 + (f"; {note}" if note else ""),
        )
    return max(candidates, key=lambda f: f.priority)


def _safe_can_handle(flavor: Flavor, obj: Any) -> bool:
    try:
        return bool(flavor.can_handle(obj))
    except Exception:
        return False
