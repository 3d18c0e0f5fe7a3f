"""Which channel names and URLs belong to Anaconda's repository (the ``defaults`` family).

Pure string functions: no I/O, no YAML. Everything else in the audit asks these two questions.
"""

from __future__ import annotations

import re

# Names conda expands to Anaconda's repository, or that are Anaconda's own channels on anaconda.org.
DEFAULTS = "defaults"
ANACONDA_NAMES = frozenset({"main", "r", "msys2", "free", "pro", "mro", "mro-archive", "anaconda"})
# Hosts that serve nothing but Anaconda's repository: any channel or package URL on them is flagged.
ANACONDA_REPO_HOSTS = frozenset({"repo.anaconda.com", "repo.continuum.io", "repo.anaconda.cloud"})
# Hosts that also serve community channels (conda-forge...): only Anaconda's channels there are flagged.
CHANNEL_HOSTS = frozenset({"conda.anaconda.org", "anaconda.org"})
SUBDIRS = frozenset({
    "noarch", "linux-64", "linux-32", "linux-aarch64", "linux-armv6l", "linux-armv7l", "linux-ppc64le",
    "linux-ppc64", "linux-s390x", "osx-64", "osx-arm64", "win-64", "win-32", "win-arm64", "zos-z",
})
# conda-lock / explicit files: the user's token sits in "/t/<token>/" and must not hide the channel.
_TOKEN = re.compile(r"^t/[^/]+/")


def _split_url(text: str) -> tuple[str | None, str]:
    """``(host, path)`` for URLs and scheme-less ``host/path``; ``(None, text)`` for plain channel names."""
    if "://" in text:
        rest = text.split("://", 1)[1]
    else:
        rest = text
        first = rest.split("/", 1)[0]
        if "." not in first:  # "pkgs/main", "conda-forge/label/x": a name, not a host
            return None, text
    host, _, path = rest.partition("/")
    host = host.rsplit("@", 1)[-1].split(":", 1)[0]  # drop credentials and port
    return host, path


def classify_channel(channel: str) -> str | None:
    """What Anaconda channel ``channel`` is (a phrase for messages), or None when it is not one.

    Accepts names (``defaults``, ``pkgs/main``, ``anaconda/label/x``), URLs and ``channel/subdir``.
    """
    text = channel.strip().strip("/").lower()
    if not text:
        return None
    host, path = _split_url(text)
    path = _TOKEN.sub("", path.strip("/"))
    parts = [p for p in path.split("/") if p]
    if parts and parts[-1] in SUBDIRS:
        parts = parts[:-1]
    if host is None:
        if not parts:
            return None
        name = parts[0]
        if name == DEFAULTS and len(parts) == 1:
            return "Anaconda's defaults channels"
        if name == "pkgs" and len(parts) >= 2:
            return f"{'/'.join(parts[:2])}, part of Anaconda's defaults"
        if name in ANACONDA_NAMES:
            return f"Anaconda's '{name}' channel"
        return None
    if host in ANACONDA_REPO_HOSTS:
        return f"Anaconda's repository ({host})"
    if host in CHANNEL_HOSTS and parts and parts[0] in ANACONDA_NAMES:
        return f"Anaconda's '{parts[0]}' channel on {host}"
    return None


def is_defaults(channel: str) -> bool:
    return channel.strip().strip("/").lower() == DEFAULTS


def classify_url(url: str) -> str | None:
    """Like :func:`classify_channel` for a package URL (``.../linux-64/x-1.0.conda#md5``)."""
    url = url.strip().split("#", 1)[0]
    if "://" not in url:
        return None
    base = url.rsplit("/", 1)[0] if url.rsplit("/", 1)[-1].endswith((".conda", ".tar.bz2", ".whl", ".tar.gz")) else url
    return classify_channel(base)


_BRACKET_CHANNEL = re.compile(r"""(\bchannel\s*=\s*)(['"]?)([^'",\]\s]+)\2""")


def spec_channel_span(spec: str) -> tuple[str, int, int] | None:
    """The channel a MatchSpec string pins, with its character span in ``spec``.

    ``defaults::mkl`` -> ("defaults", 0, 8); ``mkl[channel=pkgs/main]`` -> ("pkgs/main", 12, 21).
    """
    if "::" in spec:
        head = spec.split("::", 1)[0]
        start = len(head) - len(head.lstrip())
        return head.strip(), start, start + len(head.strip())
    match = _BRACKET_CHANNEL.search(spec)
    if match:
        return match.group(3), match.start(3), match.end(3)
    return None


def replace_spec_channel(spec: str, channel: str) -> str | None:
    """``spec`` pinned to ``channel`` instead of its Anaconda channel; None when it pins none.

    A trailing subdir (``pkgs/main/linux-64::x``) is kept: ``conda-forge/linux-64::x``.
    """
    found = spec_channel_span(spec)
    if found is None or classify_channel(found[0]) is None:
        return None
    old, start, end = found
    last = old.rstrip("/").rsplit("/", 1)[-1].lower()
    new = f"{channel}/{last}" if last in SUBDIRS and "/" in old else channel
    return spec[:start] + new + spec[end:]
