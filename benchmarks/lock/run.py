"""Time locking one spec for three platforms with envrepro, against conda-lock when a conda binary exists.

Without a conda/mamba/micromamba binary (conda-lock cannot solve without one) the script prints where
envrepro's lock time goes, phase by phase, and compares rebuilding the environment from the lock (no solve,
hashes verified) with building it by solving (envrepro's own create), both measured in this run.

    python benchmarks/lock/run.py [--packages 300] [--repeat 5] [--conda-exe PATH]

Everything is local: a synthetic conda channel (written with the test suite's channel builder) with
``--packages`` noarch packages in a dependency web plus python/pip/tinyapp for linux-64, osx-arm64, win-64,
and a wheelhouse for the pip part (uv runs offline).
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


def write_model(path: Path, channel: Path, specs: list[str]) -> Path:
    import yaml

    path.mkdir(parents=True, exist_ok=True)
    conda = {"channels": [channel.as_uri()], "dependencies": [*specs, {"pip": ["tinyreq"]}]}
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
        model = write_model(work / "model", channel, specs)

        from envrepro.envs import create_conda_prefix, parse_conda_env
        from envrepro.lock import install_from_lock, lock_model, read_lockfile

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
        from_lock, solved, cpu_lock, cpu_solve = [], [], [], []
        for _ in range(args.repeat):  # interleaved, so a busy moment on a shared machine hits both
            cpu = cpu_seconds()
            from_lock.append(median_time(lambda: install_from_lock(lock, fresh("lock"), quiet=True), 1))
            cpu_lock.append(cpu_seconds() - cpu)
            cpu = cpu_seconds()
            solved.append(median_time(lambda: create_conda_prefix(spec, fresh("solve"), quiet=True), 1))
            cpu_solve.append(cpu_seconds() - cpu)
        lock_med, solve_med = statistics.median(from_lock), statistics.median(solved)
        print(f"rebuild, linux-64, cold package cache, median of {args.repeat}: from the lock {lock_med:.3f} s "
              f"(of which reading the lock {read:.3f} s; a separate hash pass, now only for archives the package "
              f"cache already holds, would take {verify:.3f} s); by solving "
              f"{solve_med:.3f} s (of which the solve {solve:.3f} s)")
        print(f"ratio: building by solving takes {solve_med / lock_med:.2f}x the time of building from the lock "
              "(target > 1)")
        # CPU time is the work done, whatever else the machine runs: less sensitive to load than wall time.
        print(f"CPU time (this process, its threads and its children), median: from the lock "
              f"{statistics.median(cpu_lock):.3f} s, by solving {statistics.median(cpu_solve):.3f} s")
        print(f"load: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")

if __name__ == "__main__":
    main()
