"""Solve and install a conda environment with py-rattler (no conda binary needed), then its pip part."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Awaitable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from ..asof import stamp
from ..errors import OFFLINE_HELP, EnvironmentBuildError
from ..fsutil import largest_first
from .cache import envrepro_home
from .conda_spec import CondaEnvSpec
from .pip_install import install_requirements
from .prefix import prefix_python
from .progress import Progress
from .virtual_packages import default_virtual_packages, to_rattler

T = TypeVar("T")

# What a machine of each platform is assumed to offer when solving for a platform other than this one
# (conda-lock and pixi use similar floors). Detected for real on the current platform.


def _rattler() -> Any:
    try:
        import rattler
    except ImportError:
        raise EnvironmentBuildError(
            "building conda environments needs py-rattler, which is not installed",
            hint="pip install 'envrepro[conda]' (or py-rattler), or use an external conda with --conda-exe",
        ) from None
    return rattler


_EXIT_GRACE: list[bool] = []


def run_async(coro: Awaitable[T]) -> T:
    """asyncio.run that also works when called from inside a running loop (e.g. Jupyter)."""
    if not _EXIT_GRACE:
        # py-rattler's background threads can still be finishing when Python shuts down and then abort the
        # process ("PyGILState_Release ... finalizing"); a short pause at exit lets them drain. The CLI
        # also leaves through os._exit; this protects library users.
        import atexit
        import time

        atexit.register(time.sleep, 0.1)
        _EXIT_GRACE.append(True)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()  # type: ignore[arg-type]


def _subdir(rattler: Any) -> Any:
    # py-rattler 0.28 renamed Platform to Subdir (Platform stays as a deprecated alias for now).
    return getattr(rattler, "Subdir", None) or rattler.Platform


def current_platform() -> str:
    """This machine's conda subdir, e.g. ``linux-64``."""
    return str(_subdir(_rattler()).current())


def rattler_virtual_packages(platform: str | None) -> list[Any]:
    """Detected virtual packages for this machine, assumed ones for another platform.

    Detection honours conda's ``CONDA_OVERRIDE_GLIBC``/``CONDA_OVERRIDE_CUDA``/... variables.
    """
    rattler = _rattler()
    here = current_platform()
    if platform is None or platform == here:
        overrides = rattler.VirtualPackageOverrides.from_env()
        return list(rattler.VirtualPackage.detect(overrides))
    return to_rattler(default_virtual_packages(platform))


def _gateway(rattler: Any, show_progress: bool) -> Any:
    return rattler.Gateway(cache_dir=envrepro_home() / "repodata", show_progress=show_progress)


def conda_gateway(*, quiet: bool = True) -> Any:
    """A repodata gateway to share between solves (a lock's platforms, solved at the same time): it reads each
    channel subdir once and keeps it, so ``noarch`` is not read and parsed again for every platform."""
    return _gateway(_rattler(), show_progress=not quiet)


def solve_conda_spec(spec: CondaEnvSpec, *, channel_alias: Mapping[str, str] | None = None,
                     platform: str | None = None, virtual_packages: Sequence[Any] | None = None,
                     quiet: bool = True, exclude_newer: datetime | None = None,
                     gateway: Any | None = None) -> list[Any]:
    """Solve ``spec``'s conda dependencies for ``platform`` (default: this one); returns RepoDataRecords.

    ``exclude_newer`` (UTC) leaves out packages added to their channel after it, except those an exact
    spec (``name==1.2.3``, ``name=1.2.3=build``) asks for: pinned versions are never moved. ``gateway``: one
    from :func:`conda_gateway`, shared with other solves (default: a new one).
    """
    rattler = _rattler()
    channels = [rattler.Channel(url) for url in spec.resolved_channels(channel_alias)]
    specs = spec.resolved_specs(channel_alias)
    target = platform or current_platform()
    vpkgs = list(virtual_packages) if virtual_packages is not None else rattler_virtual_packages(target)
    where = spec.source
    from rattler.exceptions import (
        FetchRepoDataError,
        GatewayError,
        InvalidChannelError,
        InvalidMatchSpecError,
        SolverError,
    )
    gateway = gateway if gateway is not None else _gateway(rattler, show_progress=not quiet)
    hint = "relax the pins in conda.yaml, or add (or map with --channel-alias) a channel that has them"
    try:
        sources: list[Any] = list(channels)
        cutoff: dict[str, Any] = {}
        if exclude_newer is not None:
            # Records without a timestamp are old (conda-forge's first years): keep them.
            cutoff = {"exclude_newer": exclude_newer, "timestamp_policy": "allow-missing"}
            pinned = run_async(_pinned_records(rattler, gateway, channels, specs, [target, "noarch"], exclude_newer))
            if pinned:
                sources.insert(0, _RecordsSource(pinned))
            hint += (f"; only packages added before {stamp(exclude_newer)} are used for specs that are not "
                     "exact: pin what must be newer (name==version), or pass --resolve-as-of now")
        return run_async(rattler.solve(
            sources, specs, gateway=gateway, platforms=[target, "noarch"], virtual_packages=vpkgs, **cutoff,
        ))
    except SolverError as exc:
        raise EnvironmentBuildError(
            f"the conda dependencies cannot be solved for {target}: {_one_line(exc)}", path=where, hint=hint,
        ) from None
    except (GatewayError, FetchRepoDataError) as exc:
        raise EnvironmentBuildError(
            f"cannot read a conda channel: {_one_line(exc)}", path=where,
            hint="check the channel is reachable, or map it to a mirror or a local channel with "
                 f"--channel-alias NAME=URL_OR_PATH; {OFFLINE_HELP}",
        ) from None
    except (InvalidChannelError, InvalidMatchSpecError) as exc:
        raise EnvironmentBuildError(f"invalid conda.yaml content: {_one_line(exc)}", path=where) from None


async def _pinned_records(rattler: Any, gateway: Any, channels: Sequence[Any], specs: Sequence[str],
                          platforms: Sequence[str], exclude_newer: datetime) -> list[Any]:
    """The records exact specs ask for, dated at the cutoff when they are newer, so the solve keeps them."""
    exact = [rattler.MatchSpec(s) for s in specs]
    exact = [m for m in exact if m.version is not None and str(m.version).startswith("==")]
    if not exact:
        return []
    found = await gateway.query(channels, list(platforms), exact, recursive=False)
    records = [r for per_channel in found for r in per_channel if any(m.matches(r) for m in exact)]
    for record in records:
        when = record.indexed_timestamp or record.timestamp
        if when is not None and when > exclude_newer:
            record.indexed_timestamp = exclude_newer
    return records


class _RecordsSource:
    """A repodata source (py-rattler's RepoDataSource protocol) serving a fixed list of records. Listed first,
    it takes the package names it has (strict channel priority) and leaves the others to the channels."""

    def __init__(self, records: Sequence[Any]):
        self.records = list(records)

    async def fetch_package_records(self, platform: Any, name: Any) -> list[Any]:
        return [r for r in self.records if r.name.normalized == name.normalized and str(r.subdir) == str(platform)]

    def package_names(self, platform: Any) -> list[str]:
        return sorted({r.name.normalized for r in self.records if str(r.subdir) == str(platform)})


def package_cache_dir() -> Path:
    """rattler's package cache (extracted packages, linked into prefixes from there)."""
    return envrepro_home() / "pkgs"


def extract_archives(archives: Sequence[tuple[Path, Path]]) -> list[tuple[bytes, bytes] | BaseException]:
    """Extract each ``(archive, destination)``, off the GIL, one per core, the biggest first (the longest job
    starts at once and keeps its core); per archive its ``(sha256, md5)`` as read while extracting, or the
    error."""
    rattler = _rattler()
    from rattler.package_streaming import download_and_extract

    async def extract_all() -> list[Any]:
        client = rattler.Client()  # file:// URLs: rattler reads the file, no network
        cores = asyncio.Semaphore(os.cpu_count() or 1)

        async def one(archive: Path, dest: Path) -> Any:
            async with cores:
                return await download_and_extract(client, archive.resolve().as_uri(), dest)

        order = largest_first([archive for archive, _ in archives])
        done = dict(zip(order, await asyncio.gather(*(one(*archives[i]) for i in order), return_exceptions=True)))
        return [done[i] for i in range(len(archives))]

    return run_async(extract_all())


def install_records(records: Sequence[Any], prefix: str | os.PathLike, *, specs: Sequence[str] = (),
                    platform: str | None = None, progress: Progress | None = None) -> None:
    """Link solved records into ``prefix`` (created if needed), downloading into envrepro's package cache."""
    rattler = _rattler()
    progress = progress or Progress(quiet=True)
    reporter = _InstallReporter(progress) if progress.enabled else None
    kwargs: dict[str, Any] = {}
    if platform is not None:
        kwargs["platform"] = _subdir(rattler)(platform)
    try:
        run_async(rattler.install(
            list(records), target_prefix=os.fspath(prefix), cache_dir=package_cache_dir(),
            show_progress=False, reporter=reporter, requested_specs=_requested_specs(rattler, specs), **kwargs,
        ))
    except Exception as exc:  # InstallerError, LinkError, TransactionError, IoError ...
        raise EnvironmentBuildError(f"installing conda packages into {prefix} failed: {_one_line(exc)}",
                                    hint="check the channel's packages are readable and the disk has space") from None
    finally:
        progress.finish()


def _requested_specs(rattler: Any, specs: Sequence[str]) -> list[Any] | None:
    # Recorded in conda-meta/*.json (what `conda list` shows as requested). py-rattler 0.28's wrapper passes
    # this list to Rust unconverted, so hand it the native objects; skip it where that shape is unknown.
    native = [getattr(rattler.MatchSpec(s), "_match_spec", None) for s in specs]
    return native if specs and all(n is not None for n in native) else None


def install_pip_part(spec: CondaEnvSpec, prefix: str | os.PathLike, *, pip_override: Sequence[str] = (),
                     quiet: bool = False, exclude_newer: datetime | None = None) -> None:
    """Install every ``pip:`` block of conda.yaml, then the overrides, with the prefix's own python."""
    if not spec.pip_requirements and not pip_override:
        return
    python = prefix_python(prefix)
    if not python.exists():
        raise EnvironmentBuildError(
            "conda.yaml has pip requirements but its environment has no python to install them with",
            path=spec.source, hint="add 'python=X.Y' to the conda dependencies",
        )
    install_requirements(python, list(spec.pip_requirements), list(spec.pip_constraints), quiet=quiet,
                         cwd=spec.base_dir, exclude_newer=exclude_newer)
    if pip_override:  # given on the command line: relative paths are the user's, not the model's
        install_requirements(python, list(pip_override), quiet=quiet, what="override requirements",
                             exclude_newer=exclude_newer)


def create_conda_prefix(spec: CondaEnvSpec, prefix: str | os.PathLike, *,
                        channel_alias: Mapping[str, str] | None = None, platform: str | None = None,
                        quiet: bool = False, pip_override: Sequence[str] = (),
                        exclude_newer: datetime | None = None) -> None:
    """Solve ``spec`` for this platform with rattler, install it into ``prefix``, then its pip part."""
    progress = Progress(quiet=quiet)
    channels = spec.resolved_channels(channel_alias)
    progress.step(f"solving {len(spec.conda_specs)} conda specs from {', '.join(channels)}")
    records = solve_conda_spec(spec, channel_alias=channel_alias, platform=platform, quiet=not progress.enabled,
                               exclude_newer=exclude_newer)
    progress.step(f"installing {len(records)} conda packages into {prefix}")
    install_records(records, prefix, specs=spec.resolved_specs(channel_alias), platform=platform,
                    progress=progress)
    install_pip_part(spec, prefix, pip_override=pip_override, quiet=quiet, exclude_newer=exclude_newer)


def _one_line(exc: BaseException) -> str:
    return " | ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())


class _InstallReporter:
    """Feeds rattler's install callbacks into a one-line status (download and link counters)."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.total = 0
        self.linked = 0
        self.downloads = 0
        self.downloaded = 0
        self.names: dict[int, str] = {}

    def on_transaction_start(self, total_operations: int) -> None:
        self.total = total_operations

    def on_transaction_operation_start(self, operation: int) -> None: ...

    def on_populate_cache_start(self, operation: int, package_name: str) -> int:
        self.names[operation] = package_name
        return operation

    def on_validate_start(self, cache_entry: int) -> int:
        return cache_entry

    def on_validate_complete(self, validate_idx: int) -> None: ...

    def on_download_start(self, cache_entry: int) -> int:
        self.downloads += 1
        return cache_entry

    def on_download_progress(self, download_idx: int, progress: int, total: int | None) -> None:
        name = self.names.get(download_idx, "")
        size = f"{progress / 1e6:.1f}/{total / 1e6:.1f} MB" if total else f"{progress / 1e6:.1f} MB"
        self.progress.status(f"downloading {name} {size}")

    def on_download_completed(self, download_idx: int) -> None:
        self.downloaded += 1
        self.progress.status(f"downloaded {self.downloaded}/{self.downloads} packages", force=True)

    def on_populate_cache_complete(self, cache_entry: int) -> None: ...

    def on_unlink_start(self, operation: int, package_name: str) -> int:
        return operation

    def on_unlink_complete(self, index: int) -> None: ...

    def on_link_start(self, operation: int, package_name: str) -> int:
        self.names[operation] = package_name
        return operation

    def on_link_complete(self, index: int) -> None:
        self.linked += 1
        self.progress.status(f"linked [{self.linked}/{self.total}] {self.names.get(index, '')}", force=True)

    def on_transaction_operation_complete(self, operation: int) -> None: ...

    def on_transaction_complete(self) -> None:
        self.progress.finish()

    def on_post_link_start(self, package_name: str, script_path: str) -> int:
        return 0

    def on_post_link_complete(self, index: int, success: bool) -> None: ...

    def on_pre_unlink_start(self, package_name: str, script_path: str) -> int:
        return 0

    def on_pre_unlink_complete(self, index: int, success: bool) -> None: ...
