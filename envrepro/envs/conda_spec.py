"""conda.yaml → a typed, normalized :class:`CondaEnvSpec`; channel names → URLs through a mirror map.

Normalization makes two conda.yaml files that mean the same environment compare (and hash) equal:
conda specs go through rattler's MatchSpec (``numpy=1.2`` and ``numpy 1.2.*`` are one spec; ``numpy==1.2``
is another), pip lines through :func:`envrepro.requirements.normalized`, and every ``pip:`` block is read
(conda itself silently keeps only one of them).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelFormatError
from ..pyversion import python_version_from_specs
from ..requirements import expand_lines
from ..requirements import normalized as normalized_requirements
from ..yamlio import load_yaml_file

DEFAULT_CHANNEL_BASE = "https://conda.anaconda.org"
# Key of the channel-alias map that replaces DEFAULT_CHANNEL_BASE for every channel given by name.
ALIAS_ALL = "*"
_ANACONDA_ORG = re.compile(r"^https?://conda\.anaconda\.org/([^/]+)/?$")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_WINDOWS_PATH = re.compile(r"^[a-zA-Z]:[\\/]")


class MultiplePipBlocksWarning(UserWarning):
    """conda.yaml has several ``pip:`` blocks: conda reads one, envrepro installs them all."""


@dataclass(frozen=True)
class CondaEnvSpec:
    """A conda environment as written in conda.yaml, normalized."""

    name: str | None
    channels: tuple[str, ...]
    conda_specs: tuple[str, ...]
    pip_requirements: tuple[str, ...]
    nodefaults: bool = False
    python_version: str | None = None
    source: Path | None = None
    # Lines from ``-c file`` inside a pip block (expanded), kept apart so they constrain without installing.
    pip_constraints: tuple[str, ...] = ()
    # True when conda.yaml had no ``channels:``: conda would then use its ``defaults``.
    implicit_defaults: bool = field(default=False, compare=False)

    @property
    def base_dir(self) -> Path | None:
        """Directory that relative channel paths and pip paths are resolved against."""
        return self.source.parent if self.source is not None else None

    def resolved_channels(self, channel_alias: Mapping[str, str] | None = None) -> list[str]:
        """Channel URLs in priority order (listed channels, then those only named in ``chan::pkg`` specs)."""
        urls: list[str] = []
        for channel in self.channels:
            url = resolve_channel(channel, channel_alias, base_dir=self.base_dir, source=self.source)
            if url not in urls:
                urls.append(url)
        for spec in self.conda_specs:
            named = spec_channel(spec)
            if named is not None:
                url = resolve_channel(named, channel_alias, base_dir=self.base_dir, source=self.source)
                if url not in urls:
                    urls.append(url)
        return urls

    def resolved_specs(self, channel_alias: Mapping[str, str] | None = None) -> list[str]:
        """Conda specs with ``channel::`` prefixes rewritten to the mapped channel URL."""
        out = []
        for spec in self.conda_specs:
            channel = spec_channel(spec)
            if channel is None:
                out.append(spec)
            else:
                url = resolve_channel(channel, channel_alias, base_dir=self.base_dir, source=self.source)
                out.append(f"{url}::{spec.split('::', 1)[1]}")
        return out

    def cache_fields(self, channel_alias: Mapping[str, str] | None = None, *,
                     platform: str | None = None) -> dict[str, Any]:
        """The normalized content that identifies this environment (for :meth:`EnvCache.key_for`).

        Channels are resolved URLs in order (order is priority); specs and pip lines are sorted.
        """
        return {
            "engine": "conda",
            "platform": platform,
            "channels": self.resolved_channels(channel_alias),
            "conda_specs": sorted(self.resolved_specs(channel_alias)),
            "pip_requirements": list(self.pip_requirements),
            "pip_constraints": list(self.pip_constraints),
        }


def parse_conda_env(source: str | os.PathLike | Mapping[str, Any], *,
                    base_dir: str | os.PathLike | None = None,
                    root: str | os.PathLike | None = None) -> CondaEnvSpec:
    """Parse a conda.yaml path (or its already-loaded mapping) into a :class:`CondaEnvSpec`.

    ``-r``/``-c`` lines in pip blocks are read relative to the file (or ``base_dir`` for a mapping). With
    ``root`` (a model's directory) the file and what it includes must be inside it.
    """
    if isinstance(source, Mapping):
        data, path = dict(source), None
        where: Path | None = Path(base_dir) / "conda.yaml" if base_dir is not None else None
    else:
        path = Path(source)
        data = load_yaml_file(path, what="conda.yaml", root=root)
        where = path
    base = Path(base_dir) if base_dir is not None else (path.parent if path is not None else Path.cwd())

    document = conda_document(data, where=where)
    channels = list(document.channels)
    implicit_defaults = not channels
    if implicit_defaults:
        # conda falls back to its configured default channels; envrepro maps 'defaults' explicitly.
        channels = ["defaults"]
    conda_specs: list[str] = []
    for dep in document.specs:
        spec = normalize_conda_spec(dep, source=where)
        if spec not in conda_specs:
            conda_specs.append(spec)
    pip_lines = document.pip_lines
    if document.pip_blocks > 1:
        warnings.warn(f"{where or 'conda.yaml'}: {document.pip_blocks} 'pip:' blocks; conda installs only one of "
                      "them, envrepro installs all of them", MultiplePipBlocksWarning, stacklevel=2)
    nodefaults = document.nodefaults

    requirements, constraints = _expand_pip_lines(pip_lines, base, where, root)
    name = data.get("name")
    return CondaEnvSpec(
        name=str(name) if name is not None else None,
        channels=tuple(channels),
        conda_specs=tuple(conda_specs),
        pip_requirements=tuple(normalized_requirements(requirements)),
        pip_constraints=tuple(normalized_requirements(constraints)),
        nodefaults=nodefaults,
        python_version=python_version_from_specs(conda_specs),
        source=path.resolve() if path is not None else (where.resolve() if where is not None else None),
        implicit_defaults=implicit_defaults,
    )


@dataclass(frozen=True)
class CondaDocument:
    """conda.yaml's parts as written, after the one set of shape rules every reader applies."""

    channels: tuple[str, ...]      # stripped, deduplicated, without "nodefaults"
    specs: tuple[str, ...]         # conda dependencies as written (numbers as text)
    pip_lines: list[str]           # every pip: block, in order
    pip_blocks: int
    nodefaults: bool


def conda_document(data: Mapping[str, Any], *, where: str | os.PathLike | None = None) -> CondaDocument:
    """Check conda.yaml's shape (one ModelFormatError naming ``where`` otherwise) and split it into parts."""
    raw_channels = data.get("channels")
    if raw_channels is not None and not isinstance(raw_channels, list):
        raise ModelFormatError("malformed conda.yaml: 'channels' must be a list", path=where)
    raw_deps = data.get("dependencies")
    if raw_deps is None:
        raw_deps = []
    if not isinstance(raw_deps, list):
        raise ModelFormatError("malformed conda.yaml: 'dependencies' must be a list", path=where)
    channels: list[str] = []
    nodefaults = False
    for item in raw_channels or []:
        if not isinstance(item, str) or not item.strip():
            raise ModelFormatError(f"malformed conda.yaml: channel {item!r} is not a name, URL or path", path=where)
        text = item.strip()
        if text == "nodefaults":
            nodefaults = True
        elif text not in channels:
            channels.append(text)
    specs: list[str] = []
    pip_lines: list[str] = []
    pip_blocks = 0
    for dep in raw_deps:
        if isinstance(dep, (str, int, float)) and not isinstance(dep, bool):
            specs.append(str(dep))
        elif isinstance(dep, dict) and set(dep) == {"pip"}:
            block = dep["pip"] or []
            if not isinstance(block, list) or not all(isinstance(x, (str, int, float)) for x in block):
                raise ModelFormatError("malformed conda.yaml: 'pip' must be a list of requirements", path=where,
                                       hint="write it as `- pip:` followed by `- name==version` lines")
            pip_blocks += 1
            pip_lines.extend(str(line) for line in block)
        else:
            raise ModelFormatError(f"malformed conda.yaml: unexpected dependency {dep!r}", path=where,
                                   hint="dependencies are conda specs (strings) and at most one 'pip:' list")
    return CondaDocument(tuple(channels), tuple(specs), pip_lines, pip_blocks, nodefaults)


def _expand_pip_lines(lines: list[str], base: Path, where: Path | None,
                      root: str | os.PathLike | None) -> tuple[list[str], list[str]]:
    expanded = expand_lines(lines, base, source=where, root=root)
    return expanded.requirements, expanded.constraints


def normalize_conda_spec(text: str, *, source: str | os.PathLike | None = None) -> str:
    """Canonical text of one conda match spec; raises ModelFormatError naming ``source`` when invalid."""
    text = text.strip()
    if not text:
        raise ModelFormatError("malformed conda.yaml: empty dependency", path=source)
    try:
        from rattler import MatchSpec
    except ImportError:  # rattler is optional for reading; without it only whitespace is normalized
        channel, _, rest = text.rpartition("::")
        body = re.sub(r"\s+", " ", re.sub(r"\s*([=<>!,|])\s*", r"\1", rest)).strip()
        return f"{channel}::{body}" if channel else body
    named = spec_channel(text)
    body = text.split("::", 1)[1] if named is not None else text
    try:
        spec = str(MatchSpec(body))
    except Exception as exc:  # rattler raises InvalidMatchSpecError and friends
        raise ModelFormatError(f"malformed conda.yaml: invalid conda spec {text!r}: {exc}", path=source,
                               hint="use conda syntax, e.g. 'numpy=1.26' or 'conda-forge::numpy>=1.26,<2'") from None
    return f"{named}::{spec}" if named is not None else spec


def spec_channel(spec: str) -> str | None:
    """The channel of a ``channel::name`` spec (``channel/subdir::name`` keeps only the channel)."""
    if "::" not in spec:
        return None
    channel = spec.split("::", 1)[0].strip()
    if not _URL.match(channel) and "/" in channel and not _looks_like_path(channel):
        channel = channel.split("/", 1)[0]  # conda's 'channel/label' or 'channel/subdir' prefix
    return channel or None


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", "./", "../", "~", ".\\", "..\\")) or bool(_WINDOWS_PATH.match(text))


def resolve_channel(channel: str, channel_alias: Mapping[str, str] | None = None, *,
                    base_dir: str | os.PathLike | None = None, source: str | os.PathLike | None = None,
                    _seen: frozenset[str] = frozenset()) -> str:
    """A channel name, URL or path → the URL envrepro fetches from, applying the mirror map.

    The map's keys are channel names (``conda-forge``, ``defaults``) or ``*`` for every name; values are
    URLs, local paths, or other channel names. ``https://conda.anaconda.org/<name>`` URLs are mapped as
    ``<name>`` so an air-gapped site can redirect fully spelled-out channels too.
    """
    alias = dict(channel_alias or {})
    text = channel.strip().rstrip("/")
    if text in _seen:
        raise ModelFormatError(f"channel alias map loops through {text!r}", hint="fix --channel-alias")
    if text in alias and text != ALIAS_ALL:
        target = alias[text].strip()
        return resolve_channel(target, {k: v for k, v in alias.items() if k != text}, base_dir=None,
                               source=source, _seen=_seen | {text})
    anaconda = _ANACONDA_ORG.match(text)
    if anaconda and anaconda.group(1) in alias:
        return resolve_channel(anaconda.group(1), alias, base_dir=base_dir, source=source, _seen=_seen)
    if _URL.match(text):
        return text
    if _looks_like_path(text):
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = Path(base_dir or Path.cwd()) / path
        return path.resolve().as_uri()
    if text == "defaults":
        raise ModelFormatError(
            "conda.yaml uses the 'defaults' channel (explicitly or by listing no channels); envrepro does not "
            "guess what 'defaults' means on this machine", path=source,
            hint="map it with --channel-alias defaults=conda-forge (or =<mirror URL or path>), "
                 "or rewrite the file with `envrepro audit --fix`",
        )
    base = alias.get(ALIAS_ALL, DEFAULT_CHANNEL_BASE).strip().rstrip("/")
    if not _URL.match(base):
        base = Path(base).expanduser().resolve().as_uri()
    return f"{base}/{text}"


def parse_channel_alias(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``['conda-forge=/srv/mirror/cf', '*=https://mirror/conda']`` → a channel-alias map."""
    result: dict[str, str] = {}
    for item in items:
        name, sep, target = item.partition("=")
        if not sep or not name.strip() or not target.strip():
            raise ModelFormatError(f"invalid channel alias {item!r}",
                                   hint="use NAME=URL_OR_PATH, e.g. conda-forge=https://mirror.example/conda-forge")
        result[name.strip()] = target.strip()
    return result
