"""Train a tiny scikit-learn model and save it with envrepro (used by the README's quickstart)."""

from __future__ import annotations

import sys

import numpy as np
from sklearn.linear_model import LogisticRegression

import envrepro

path = sys.argv[1] if len(sys.argv) > 1 else "sample-model"
rng = np.random.default_rng(0)
X = rng.normal(size=(100, 4))
y = (X[:, 0] + X[:, 1] > 0).astype(int)
model = LogisticRegression().fit(X, y)
envrepro.save_model(model, path, input_example=X[:3])
print(f"saved {path}")
