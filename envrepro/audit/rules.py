"""The audit rules, applied to composed YAML nodes (never constructed objects: nothing is executed).

Node trees come from ``yaml.compose`` so every finding carries the line it sits on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from ..yamlio import node_graph_problem
from .channels import classify_channel, classify_url, is_defaults, spec_channel_span
from .findings import LOCK, Finding, ModelInfo

SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # for loading data (the fixer's self-check)
_NULL = "tag:yaml.org,2002:null"
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TAGS = {yaml.ScalarNode: "tag:yaml.org,2002:str", yaml.SequenceNode: "tag:yaml.org,2002:seq",
         yaml.MappingNode: "tag:yaml.org,2002:map"}


class _Parser(getattr(yaml, "CBaseLoader", yaml.BaseLoader)):  # type: ignore[misc]
    """libyaml's parser with a two-tag resolver: the rules only ask "null or text?".

    PyYAML's resolver runs Python regexes on every scalar (about a fifth of a scan's time). Scalar values
    are used as raw text, which is also more faithful: ``mlflow_version: 2.10`` stays "2.10", not 2.1.
    """

    def descend_resolver(self, parent, index):  # no path resolvers
        pass

    def ascend_resolver(self):
        pass

    def resolve(self, kind, value, implicit):
        if kind is yaml.ScalarNode and implicit[0] and value in _NULLS:
            return _NULL
        return _TAGS[kind]


_MLFLOW_PIN = re.compile(r"^\s*mlflow(?:-skinny)?\s*==\s*([0-9][^\s,;#]*)\s*(?:#.*)?$", re.IGNORECASE)


class Malformed(ValueError):
    """The file parses as YAML but is not the kind of document its name says."""


def compose(text: str) -> yaml.Node | None:
    """Parse without constructing anything; YAML errors become :class:`Malformed` with the line."""
    try:
        root = yaml.compose(text, Loader=_Parser)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise Malformed(f"malformed YAML{where}: {problem}") from None
    # An alias bomb or a recursive document would blow up every walk over the nodes (and --fix); given the
    # text, a document without anchors only has its depth checked (the alias accounting was half a scan's time).
    problem = node_graph_problem(root, text)
    if problem is not None:
        raise Malformed(f"refused: {problem}")
    return root


def get(node: yaml.Node | None, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    """``(key_node, value_node)`` of ``key`` in a mapping node (last one wins, as in YAML loaders)."""
    found = None
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                found = (k, v)
    return found


def value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    """The value node of ``key`` in a mapping node, or None."""
    found = get(node, key)
    return found[1] if found is not None else None


def scalar(node: yaml.Node | None) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) and node.tag != _NULL else None


def line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


# -- conda environment files (conda.yaml, environment.yml) --------------------------------------------------

@dataclass
class EnvParts:
    """The nodes of a conda environment file that the rules (and the fixer) look at."""

    root: yaml.MappingNode
    channels: tuple[yaml.Node, yaml.Node] | None
    dependencies: tuple[yaml.Node, yaml.Node] | None

    @property
    def channel_items(self) -> list[yaml.Node]:
        if self.channels is None:
            return []
        value = self.channels[1]
        if isinstance(value, yaml.SequenceNode):
            return list(value.value)
        return [value] if scalar(value) else []  # `channels: defaults` (a string) still names a channel

    @property
    def dependency_items(self) -> list[yaml.Node]:
        value = self.dependencies[1] if self.dependencies else None
        return list(value.value) if isinstance(value, yaml.SequenceNode) else []

    @property
    def has_channels(self) -> bool:
        return any(scalar(item) for item in self.channel_items)


def env_parts(root: yaml.Node | None) -> EnvParts:
    if root is None:
        raise Malformed("empty conda environment file")
    if not isinstance(root, yaml.MappingNode):
        raise Malformed("not a conda environment file: expected a mapping at the top level")
    return EnvParts(root, get(root, "channels"), get(root, "dependencies"))


def mlflow_pin(parts: EnvParts) -> str | None:
    """``X`` from a ``mlflow==X`` pip requirement: the MLflow that wrote the file, when MLmodel does not say."""
    for item in parts.dependency_items:
        pip = get(item, "pip")
        if pip and isinstance(pip[1], yaml.SequenceNode):
            for req in pip[1].value:
                match = _MLFLOW_PIN.match(scalar(req) or "")
                if match:
                    return match.group(1)
    return None


def env_findings(parts: EnvParts, file: str, model: ModelInfo | None) -> list[Finding]:
    findings = []
    for item in parts.channel_items:
        name = scalar(item)
        if name is None:
            continue
        if is_defaults(name):
            findings.append(Finding(file, line(item), "explicit-defaults",
                                    "channel 'defaults': Anaconda's repository", name, model=model))
        elif (why := classify_channel(name)) is not None:
            findings.append(Finding(file, line(item), "anaconda-channel", f"channel {name!r}: {why}", name,
                                    model=model))
    if not parts.has_channels and parts.dependency_items:
        where = parts.channels[0] if parts.channels else parts.root
        findings.append(Finding(file, line(where), "implicit-defaults",
                                "no channels: conda falls back to 'defaults' (Anaconda's repository)", "",
                                model=model))
    for item in parts.dependency_items:
        spec = scalar(item)
        found = spec_channel_span(spec) if spec else None
        if spec and found and (why := classify_channel(found[0])) is not None:
            findings.append(Finding(file, line(item), "channel-prefixed-spec",
                                    f"{spec!r} pins a package to {why}", spec, model=model))
    return findings


# -- lock files ------------------------------------------------------------------------------------------------

def conda_lock_findings(root: yaml.Node | None, file: str, model: ModelInfo | None) -> list[Finding]:
    """conda-lock.yml (v1 and later): ``metadata.channels[].url`` and every package URL."""
    if not isinstance(root, yaml.MappingNode) or get(root, "package") is None:
        raise Malformed("not a conda-lock file: expected a mapping with a 'package' list")
    findings = []
    channels = value(value(root, "metadata"), "channels")
    if isinstance(channels, yaml.SequenceNode):
        for item in channels.value:
            name = scalar(value(item, "url")) if get(item, "url") else scalar(item)
            if name and (why := classify_channel(name)) is not None:
                findings.append(Finding(file, line(item), "lock-anaconda-channel",
                                        f"locked with channel {name!r} ({why}): re-lock needed", name,
                                        kind=LOCK, model=model))
    packages = value(root, "package")
    for entry in packages.value if isinstance(packages, yaml.SequenceNode) else []:
        url = value(entry, "url")
        text = scalar(url)
        if url is not None and text and (why := classify_url(text)) is not None:
            name = scalar(value(entry, "name")) or "?"
            findings.append(Finding(file, line(url), "lock-anaconda-url",
                                    f"{name!r} locked from {why}: re-lock needed", text, kind=LOCK,
                                    model=model))
    return findings


def explicit_findings(text: str, file: str, model: ModelInfo | None) -> list[Finding]:
    """``@EXPLICIT`` files (``conda list --explicit``, conda-lock's rendered .lock): one URL a line."""
    findings = []
    explicit = False
    for number, raw in enumerate(text.splitlines(), start=1):
        entry = raw.strip()
        if entry == "@EXPLICIT":
            explicit = True
        elif explicit and entry and not entry.startswith("#") and (why := classify_url(entry)) is not None:
            package = entry.split("#", 1)[0].rsplit("/", 1)[-1]
            findings.append(Finding(file, number, "lock-anaconda-url",
                                    f"{package!r} locked from {why}: re-lock needed", entry, kind=LOCK,
                                    model=model))
    if not explicit:
        raise Malformed("not an explicit lock file: no @EXPLICIT line")
    return findings
