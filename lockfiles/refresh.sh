#!/usr/bin/env bash
# Regenerate the project's locked environments (see lockfiles/README.md). Needs PyPI, uv and envrepro.
set -euo pipefail
cd "$(dirname "$0")/.."
uv=$(python -c "from uv import find_uv_bin; print(find_uv_bin())" 2>/dev/null || command -v uv)

# 1. CI/development environment: core + [test] extra, pinned with hashes, for the CI machine (Linux x86_64,
#    Python 3.11). torch stays out: CI installs the CPU wheel lying on disk with `pip install torch==2.13.0`.
"$uv" pip compile pyproject.toml --extra test --generate-hashes --python-version 3.11 \
    --python-platform x86_64-manylinux_2_28 --no-header --quiet -o lockfiles/ci-linux-64-py311.txt

# 2. The README's sample model: its env files (no artifact) and a pip lock for three platforms. conda-forge is
#    not reachable here; where it is, add a conda lock with `envrepro lock -m lockfiles/sample-model`.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python examples/quickstart.py "$work/sample-model" >/dev/null
mkdir -p lockfiles/sample-model
for f in MLmodel conda.yaml python_env.yaml requirements.txt; do cp "$work/sample-model/$f" lockfiles/sample-model/; done
python -m envrepro.cli lock -m lockfiles/sample-model --pip-only -p linux-64 -p osx-arm64 -p win-64 \
    -o lockfiles/sample-model/conda-lock.yml -q
python -m envrepro.cli lock -m lockfiles/sample-model --check
