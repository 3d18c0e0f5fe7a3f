"""Train a tiny scikit-learn model and save it with envrepro (used by the README's quickstart).

Re-runnable: a model directory already at the path (an earlier run's) is replaced, and it says so; any other
non-empty directory there is left alone, with a one-line error (exit 2).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

import envrepro
from envrepro.errors import EnvreproError

path = Path(sys.argv[1] if len(sys.argv) > 1 else "sample-model")
rng = np.random.default_rng(0)
X = rng.normal(size=(100, 4))
y = (X[:, 0] + X[:, 1] > 0).astype(int)
model = LogisticRegression().fit(X, y)
if (path / "MLmodel").is_file():
    print(f"replacing {path} (saved by an earlier run)")
    shutil.rmtree(path)
try:
    envrepro.save_model(model, path, input_example=X[:3])
except EnvreproError as exc:
    print(f"quickstart: error: {exc.format()}", file=sys.stderr)
    sys.exit(2)
print(f"saved {path}")
