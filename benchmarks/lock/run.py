"""Time locking one spec for three platforms with envrepro, against conda-lock when a conda binary exists.

Without a conda/mamba/micromamba binary (conda-lock cannot solve without one) the script prints where
envrepro's lock time goes, phase by phase, and compares rebuilding the environment from the lock (no solve,
hashes verified) with building it by solving (envrepro's own create), both measured in this run.

    python benchmarks/lock/run.py [--packages 300] [--repeat 5] [--index-records 300000] [--conda-exe PATH]

Everything is local: a synthetic conda channel (written with the test suite's channel builder) with
``--packages`` noarch packages in a dependency web plus python/pip/tinyapp for linux-64, osx-arm64, win-64,
and a wheelhouse for the pip part (uv runs offline). The rebuild is measured twice: from the channel on disk,
where a solve costs milliseconds, and over HTTP with ``--index-records`` more records in the index, as a
real channel has (see :func:`over_http`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PLATFORMS = ["linux-64", "osx-arm64", "win-64"]


def build_inputs(work: Path, n_packages: int) -> tuple[Path, Path, list[str]]:
    from tests.fixtures_channel import PackageSpec, build_local_channel, build_wheel, standard_packages

    packages = standard_packages()
    names = []
    for i in range(n_packages):
        deps = tuple(f"syn{j:03d} >=1" for j in (i // 2, i // 3) if j < i)
        for version in ("1.0", "1.1", "2.0"):
            packages.append(PackageSpec(f"syn{i:03d}", version, noarch="generic", depends=deps,
                                        files={f"share/syn/{i}-{version}.txt": f"{i} {version}\n"}))
        names.append(f"syn{i:03d}")
    channel = build_local_channel(work / "channel", packages)
    wheels = work / "wheels"
    build_wheel(wheels, "tinywheel", "1.0")
    build_wheel(wheels, "tinyreq", "1.0", requires=["tinywheel<2"])
    specs = ["python=%d.%d" % sys.version_info[:2], "pip", "tinyapp=2", *[f"{n} >=1.1" for n in names[-20:]]]
    return channel, wheels, specs


def write_model(path: Path, channel: str, specs: list[str]) -> Path:
    import yaml

    path.mkdir(parents=True, exist_ok=True)
    conda = {"channels": [channel], "dependencies": [*specs, {"pip": ["tinyreq"]}]}
    (path / "conda.yaml").write_text(yaml.safe_dump(conda))
    (path / "MLmodel").write_text(yaml.safe_dump({"flavors": {"python_function": {
        "loader_module": "tinyapp", "env": {"conda": "conda.yaml"}}}}))
    return path


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cpu_seconds() -> float:
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--index-records", type=int, default=300_000,
                        help="also rebuild over HTTP with this many more index records (0: skip)")
    parser.add_argument("--conda-exe", default=os.environ.get("ENVREPRO_CONDA_EXE") or next(
        (shutil.which(t) for t in ("micromamba", "mamba", "conda") if shutil.which(t)), None))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="envrepro-bench-lock-") as tmp:
        work = Path(tmp)
        os.environ["ENVREPRO_HOME"] = str(work / "home")
        os.environ.update(UV_FIND_LINKS=str(work / "wheels"), UV_NO_INDEX="1", UV_OFFLINE="1")
        started = time.perf_counter()
        channel, _, specs = build_inputs(work, args.packages)
        print(f"channel: {args.packages * 3} synthetic packages + the standard set, built in "
              f"{time.perf_counter() - started:.1f} s; spec: {len(specs)} conda specs + 1 pip requirement, "
              f"platforms: {', '.join(PLATFORMS)}")
        model = write_model(work / "model", channel.as_uri(), specs)

        from envrepro.envs import parse_conda_env
        from envrepro.lock import lock_model, read_lockfile

        lock_model(model, PLATFORMS, quiet=True)  # warm repodata and uv caches, as in repeated CI use
        phases: dict[str, list[float]] = {}

        def one_lock() -> None:
            timings: dict[str, float] = {}
            lock_model(model, PLATFORMS, quiet=True, timings=timings)
            run: dict[str, float] = {}
            # The platforms lock concurrently: a phase's span is its longest platform ("conda solve linux-64"
            # -> "conda solve"), and the spans overlap, so they add up to more than the wall time.
            for phase, seconds in timings.items():
                key = " ".join(phase.split(" ")[:2])
                run[key] = max(run.get(key, 0.0), seconds)
            for key, seconds in run.items():
                phases.setdefault(key, []).append(seconds)

        ours = median_time(one_lock, args.repeat)
        n = len(read_lockfile(model / "conda-lock.yml").packages)
        print(f"envrepro lock: {ours:.3f} s median of {args.repeat} ({n} locked entries, the {len(PLATFORMS)} "
              "platforms at once); longest platform per phase:")
        for phase, values in phases.items():
            seconds = statistics.median(values)
            print(f"  {phase:<12} {seconds:.3f} s  ({100 * seconds / ours:.0f}% of the wall time)")
        print(f"ratio: envrepro lock takes {ours / 0.3:.2f}x the 0.3 s target")

        if args.conda_exe:
            env_file = work / "environment.yml"
            import yaml

            env_file.write_text(yaml.safe_dump({"channels": [channel.as_uri()],
                                                "dependencies": [*specs, {"pip": ["tinyreq"]}]}))
            cmd = [sys.executable, "-m", "conda_lock", "lock", "--conda", args.conda_exe, "-f", str(env_file),
                   *[a for p in PLATFORMS for a in ("-p", p)], "--lockfile", str(work / "peer.yml")]
            theirs = median_time(lambda: subprocess.run(cmd, check=True, capture_output=True, cwd=work),
                                 max(1, args.repeat // 2))
            print(f"conda-lock ({args.conda_exe}): {theirs:.3f} s median")
            print(f"ratio: envrepro locks {theirs / ours:.1f}x faster than conda-lock")
        else:
            print("no conda/mamba/micromamba binary: conda-lock cannot solve here, so no conda-lock timing")

        # Rebuild from the lock (unpack + verify + link, no solve) against solve + link, both cold package caches.
        lock = model / "conda-lock.yml"
        spec = parse_conda_env(model / "conda.yaml")
        counter = iter(range(10**6))

        def fresh(kind: str) -> Path:
            os.environ["ENVREPRO_HOME"] = str(work / f"home-{kind}-{next(counter)}")
            return work / f"env-{kind}-{next(counter)}"

        from envrepro.envs.from_lock import fetch_verified
        from envrepro.envs.rattler_engine import solve_conda_spec

        conda = read_lockfile(lock).for_platform("linux-64", "conda")
        read = median_time(lambda: read_lockfile(lock), args.repeat)
        verify = median_time(lambda: fetch_verified(conda), args.repeat)
        solve = median_time(lambda: solve_conda_spec(spec, platform="linux-64"), args.repeat)
        lock_med, solve_med, cpu_lock, cpu_solve = rebuild_both(lock, spec, fresh, args.repeat)
        print(f"rebuild, linux-64, local file channel, cold package cache, median of {args.repeat}: from the lock "
              f"{lock_med:.3f} s (of which reading the lock {read:.3f} s; a separate hash pass, now only for "
              f"archives the package cache already holds, would take {verify:.3f} s); by solving "
              f"{solve_med:.3f} s (of which the solve {solve:.3f} s)")
        print(f"ratio: building by solving takes {solve_med / lock_med:.2f}x the time of building from the lock "
              "(target > 1)")
        # CPU time is the work done, whatever else the machine runs: less sensitive to load than wall time.
        print(f"CPU time (this process, its threads and its children), median: from the lock {cpu_lock:.3f} s, "
              f"by solving {cpu_solve:.3f} s")
        print(f"load: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
        if args.index_records:
            over_http(work, channel, specs, args.index_records, fresh, args.repeat)


def rebuild_both(lock: Path, spec, fresh, repeat: int) -> tuple[float, float, float, float]:
    """Median wall and CPU seconds of rebuilding from ``lock`` and by solving ``spec``, each into a fresh
    ENVREPRO_HOME (cold repodata and package caches), interleaved so a busy moment hits both."""
    from envrepro.envs import create_conda_prefix
    from envrepro.lock import install_from_lock

    from_lock, solved, cpu_lock, cpu_solve = [], [], [], []
    for _ in range(repeat):
        cpu = cpu_seconds()
        from_lock.append(median_time(lambda: install_from_lock(lock, fresh("lock"), quiet=True), 1))
        cpu_lock.append(cpu_seconds() - cpu)
        cpu = cpu_seconds()
        solved.append(median_time(lambda: create_conda_prefix(spec, fresh("solve"), quiet=True), 1))
        cpu_solve.append(cpu_seconds() - cpu)
    return (statistics.median(from_lock), statistics.median(solved), statistics.median(cpu_lock),
            statistics.median(cpu_solve))


def pad_index(channel: Path, records: int) -> float:
    """Add ``records`` packages nobody asks for to linux-64 and noarch (60/40), as a large channel's index has:
    a solve must fetch and index them, an install from a lock never reads the index. Returns the MB written."""
    import hashlib
    import json

    size = 0
    for subdir, share in (("linux-64", 0.6), ("noarch", 0.4)):
        path = channel / subdir / "repodata.json"
        index = json.loads(path.read_text())
        packages = index.setdefault("packages", {})
        for i in range(int(records * share)):
            name, version = f"pad{i // 40:05d}", f"{i % 40 // 8}.{i % 8}.0"
            filename = f"{name}-{version}-h{i:07x}_0.tar.bz2"
            packages[filename] = {
                "name": name, "version": version, "build": f"h{i:07x}_0", "build_number": 0,
                "depends": [f"pad{(i * 7919) % (i // 40 + 1):05d} >=1.0", "libgcc-ng >=12", "python >=3.8"],
                "license": "BSD-3-Clause", "md5": hashlib.md5(filename.encode()).hexdigest(),
                "sha256": hashlib.sha256(filename.encode()).hexdigest(), "size": 123456, "subdir": subdir,
                "timestamp": 1700000000000 + i}
        path.write_text(json.dumps(index))
        size += path.stat().st_size
    return size / 1e6


def over_http(work: Path, channel: Path, specs: list[str], records: int, fresh, repeat: int) -> None:
    """The same rebuild with the channel served over HTTP (on this machine) and an index of ``records`` more
    packages: what a lock saves against a real channel (fetching and indexing repodata, then solving), with
    the network at memory speed, so a lower bound of it."""
    from envrepro.envs import parse_conda_env
    from envrepro.lock import lock_model
    from tests.fixtures_channel import serve_directory

    megabytes = pad_index(channel, records)
    with serve_directory(channel) as url:
        model = write_model(work / "model-http", url, specs)
        fresh("lock-http")  # a new ENVREPRO_HOME for the lock, so the rebuilds below start from cold caches
        lock_model(model, ["linux-64"], quiet=True)
        lock_med, solve_med, cpu_lock, cpu_solve = rebuild_both(model / "conda-lock.yml",
                                                                 parse_conda_env(model / "conda.yaml"), fresh,
                                                                 repeat)
    print(f"rebuild, linux-64, the channel over HTTP with {records:,} more index records ({megabytes:.0f} MB of "
          f"repodata.json; conda-forge's linux-64 + noarch hold several times that), cold repodata and package "
          f"caches, median of {repeat}: from the lock {lock_med:.3f} s, by solving {solve_med:.3f} s")
    print(f"ratio: building by solving takes {solve_med / lock_med:.2f}x the time of building from the lock "
          f"(CPU time: from the lock {cpu_lock:.3f} s, by solving {cpu_solve:.3f} s)")
    print(f"load: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")

if __name__ == "__main__":
    main()
