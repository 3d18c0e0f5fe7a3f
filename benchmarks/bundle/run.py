"""Bundle size and offline install time, against `pip download` + `pip install --no-index` of the same pins
(and conda-pack of the same conda environment), all in one run on this machine.

Usage: python benchmarks/bundle/run.py [--repeat 3] [--no-conda]

The model is the README's sample model (scikit-learn, numpy, scipy, pandas...). Venv side: `envrepro bundle`
(uv) against `pip download --no-deps --require-hashes` of the bundle's own pins (so the very same files),
then installs with empty caches: `envrepro env create --from-bundle` with uv, and with virtualenv + pip (uv
hidden), against `python -m venv` + `pip install --no-index --no-deps --require-hashes`. Installs run in a
network namespace with no network (`unshare -n`, as root) when possible. Conda side (Linux): the model locked
on a local channel built with the test suite's tools (python + pip as conda packages), bundled; conda-pack
(installed into benchmarks/_work/conda-pack-venv from PyPI on first use) packs the environment built from
that bundle, and its install (untar + conda-unpack) is timed against `env create --from-bundle`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import ROOT, WORK, ratio, timed  # noqa: E402

sys.path.insert(0, str(ROOT))


def mb(size: float) -> str:
    return f"{size / 1e6:.1f} MB"


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def isolated() -> list[str]:
    """`unshare -n --` when this process may make a network namespace (root), else nothing."""
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True) if shutil.which("unshare") else None
    return ["unshare", "-n", "--"] if probe is not None and probe.returncode == 0 else []


def fresh_env(root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_", "ENVREPRO_"))}
    env.update(ENVREPRO_HOME=str(root / "home"), UV_CACHE_DIR=str(root / "uv"), PIP_CACHE_DIR=str(root / "pip"),
               XDG_CACHE_HOME=str(root / "xdg"), **extra)
    return env


def envrepro(*args: str) -> list[str]:
    return [sys.executable, "-m", "envrepro.cli", *args]


def run(cmd: list[str], **kwargs) -> float:
    seconds, proc = timed(cmd, **kwargs)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return seconds


def median_of(repeat: int, work: Path, step) -> tuple[float, list[float]]:
    times = []
    for i in range(repeat):
        scratch = Path(tempfile.mkdtemp(dir=work, prefix=f"run{i}-"))
        try:
            times.append(step(scratch))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return statistics.median(times), times


def fmt(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-conda", action="store_true", help="skip the conda bundle and conda-pack")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    net = isolated()
    where = "in a network namespace with no network" if net else "NOT isolated (unshare -n needs root)"
    with tempfile.TemporaryDirectory(dir=WORK, prefix="bundle-bench-") as tmp:
        work = Path(tmp)
        os.environ["ENVREPRO_HOME"] = str(work / "home")  # bundling downloads into its own store
        model = work / "model"
        subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py"), str(model)], check=True,
                       capture_output=True)
        venv_side(work, model, args.repeat, net, where)
        if not args.no_conda:
            conda_side(work, model, args.repeat, net, where)


def venv_side(work: Path, model: Path, repeat: int, net: list[str], where: str) -> None:
    bundle = work / "model-uv.tar"
    bundle_s = run(envrepro("bundle", "-m", str(model), "-o", str(bundle), "--env-manager", "uv", "-q"))
    with tarfile.open(bundle) as tar:
        manifest = json.loads(tar.extractfile("envrepro-bundle.json").read())
        lock = tar.extractfile("model/conda-lock.yml").read().decode()
    import yaml

    pins = [p for p in yaml.safe_load(lock)["package"] if p["platform"] == "linux-64" and p["manager"] == "pip"]
    requirements = work / "pins.txt"
    requirements.write_text("".join(f"{p['name']}=={p['version']} --hash=sha256:{p['hash']['sha256']}\n"
                                    for p in pins))
    wheelhouse = work / "wheelhouse"
    pip_env = dict(os.environ, PIP_CACHE_DIR=str(work / "pip-download-cache"))
    download_s = run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--require-hashes", "-r",
                      str(requirements), "-d", str(wheelhouse)], env=pip_env)
    packages = sum(f["size"] for f in manifest["files"] if f["path"].startswith("packages/"))
    size, house = bundle.stat().st_size, tree_size(wheelhouse)
    gz_start = time.perf_counter()
    gz_size = len(gzip.compress(bundle.read_bytes(), compresslevel=6))
    gz_s = time.perf_counter() - gz_start
    print(f"model: README sample model, {len(pins)} pip packages for linux-64, Python {sys.version.split()[0]}")
    print(f"bundle:      {mb(size)} in one file ({mb(packages)} of packages), made in {bundle_s:.2f} s "
          "(lock + fetch + write; downloads from PyPI into an empty store)")
    print(f"pip download: {mb(house)} in {len(list(wheelhouse.iterdir()))} files, in {download_s:.2f} s "
          f"(same pins and hashes; its cache empty)")
    print(f"size ratio bundle / wheelhouse: {size / house:.3f} (the bundle adds the model, its lock and a "
          f"manifest); gzip -6 of the bundle: {mb(gz_size)} ({100 * (1 - gz_size / size):.1f}% smaller, "
          f"{gz_s:.1f} s to compress)")

    def ours(manager: str):
        def step(scratch: Path) -> float:
            extra = {"ENVREPRO_UV": str(scratch / "no-uv")} if manager == "virtualenv" else {}
            return run([*net, *envrepro("env", "create", "--from-bundle", str(bundle), "--env-manager", manager,
                                        "-q")], env=fresh_env(scratch, **extra))
        return step

    def theirs(scratch: Path) -> float:
        env = fresh_env(scratch)
        seconds = run([*net, sys.executable, "-m", "venv", str(scratch / "venv")], env=env)
        return seconds + run([*net, str(scratch / "venv" / "bin" / "pip"), "install", "-q", "--no-index",
                              "--no-deps", "--require-hashes", "--find-links", str(wheelhouse), "-r",
                              str(requirements)], env=env)

    uv_med, uv_times = median_of(repeat, work, ours("uv"))
    ve_med, ve_times = median_of(repeat, work, ours("virtualenv"))
    pip_med, pip_times = median_of(repeat, work, theirs)
    print(f"offline install, empty caches, {where}, median of {repeat}:")
    print(f"  venv + pip install --no-index:                 {pip_med:.2f} s  ({fmt(pip_times)})")
    print(f"  envrepro env create --from-bundle, uv:         {uv_med:.2f} s  ({fmt(uv_times)})  -> "
          f"{ratio(uv_med, pip_med)} faster (unpack + verify every byte included)")
    print(f"  envrepro env create --from-bundle, virtualenv: {ve_med:.2f} s  ({fmt(ve_times)})  -> "
          f"{ratio(ve_med, pip_med)} faster (virtualenv + pip, no uv)")


def conda_side(work: Path, model: Path, repeat: int, net: list[str], where: str) -> None:
    try:
        from tests.fixtures_channel import (
            build_local_channel,
            bundled_pip_wheel,
            current_subdir,
            python_package,
            wheel_package,
        )

        subdir = current_subdir()
        channel = build_local_channel(work / "channel", [
            python_package(subdir, sys.version.split()[0], sys.executable),
            wheel_package(bundled_pip_wheel(), "pip", "0")])
    except Exception as exc:  # not Linux, no patchelf, ...
        print(f"conda side skipped: cannot build a local channel with python here ({exc})")
        return
    bundle = work / "model-conda.tar"
    bundle_s = run(envrepro("bundle", "-m", str(model), "-o", str(bundle), "--env-manager", "conda",
                            "--channel-alias", f"conda-forge={channel.as_uri()}", "-q"))
    print(f"conda bundle: {mb(bundle.stat().st_size)} (python and pip as conda packages, the rest as wheels), "
          f"made in {bundle_s:.2f} s")

    def ours(scratch: Path) -> float:
        return run([*net, *envrepro("env", "create", "--from-bundle", str(bundle), "--prefix", str(scratch / "env"),
                                    "-q")], env=fresh_env(scratch))

    ours_med, ours_times = median_of(repeat, work, ours)
    print(f"  envrepro env create --from-bundle, conda ({where}): {ours_med:.2f} s  ({fmt(ours_times)})")
    packer = conda_pack()
    if packer is None:
        print("  conda-pack: not run (it could not be installed from PyPI here)")
        return
    prefix = work / "packed-env"
    run(envrepro("env", "create", "--from-bundle", str(bundle), "--prefix", str(prefix), "-q"),
        env=fresh_env(work / "pack-home"))
    packed = work / "env.tar.gz"
    pack_s = run([str(packer), "-p", str(prefix), "-o", str(packed), "-q"])

    def theirs(scratch: Path) -> float:
        target = scratch / "env"
        target.mkdir()
        seconds = run([*net, "tar", "-xzf", str(packed), "-C", str(target)])
        return seconds + run([*net, str(target / "bin" / "conda-unpack")])

    pack_med, pack_times = median_of(repeat, work, theirs)
    print(f"  conda-pack of the same environment: {mb(packed.stat().st_size)} (.tar.gz of the installed files, "
          f"packed in {pack_s:.2f} s); size ratio bundle / conda-pack: "
          f"{bundle.stat().st_size / packed.stat().st_size:.2f}")
    faster = (f"envrepro is {ratio(ours_med, pack_med)} faster" if ours_med <= pack_med else
              f"conda-pack is {ratio(pack_med, ours_med)} faster")
    print(f"  conda-pack install (untar + conda-unpack): {pack_med:.2f} s  ({fmt(pack_times)})  -> {faster} "
          "(envrepro verifies every byte, links conda packages and installs wheels; conda-pack untars an "
          "installed tree and rewrites prefixes)")


def conda_pack() -> Path | None:
    venv = WORK / "conda-pack-venv"
    exe = venv / "bin" / "conda-pack"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        proc = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "conda-pack"], capture_output=True)
        if proc.returncode != 0:
            return None
    return exe


if __name__ == "__main__":
    main()
