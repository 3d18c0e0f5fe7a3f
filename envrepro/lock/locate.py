"""Where a model's lock file is: recorded in MLmodel (``envrepro_lock: conda-lock.yml``), else next to it.

The recorded path must be inside the model directory, like every path MLmodel names.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelFormatError
from ..fsutil import atomic_write_text, locked_dir
from ..lockfile import DEFAULT_LOCK_NAME
from ..model import MLMODEL, MLmodel, ModelDir

MLMODEL_KEY = "envrepro_lock"


def find_lock(model_dir: str | os.PathLike) -> Path | None:
    """The MLmodel-recorded lock, else ``conda-lock.yml`` in the model directory, else None.

    A lock that MLmodel records but that is missing is an error, not a silent fall back to solving.
    """
    model = ModelDir.open(model_dir)
    recorded = model.mlmodel.extra.get(MLMODEL_KEY)
    if recorded:
        path = model.inside(str(recorded), MLMODEL_KEY)
        if not path.is_file():
            raise ModelFormatError(f"the lock file recorded in MLmodel ({recorded}) is missing", path=path,
                                   hint="restore it, re-create it with `envrepro lock`, or remove "
                                        f"'{MLMODEL_KEY}' from MLmodel")
        return path
    default = model.path / DEFAULT_LOCK_NAME
    return default if default.is_file() else None


def record_lock(model_dir: str | os.PathLike, lock_path: str | os.PathLike) -> bool:
    """Write ``envrepro_lock: <path relative to the model>`` into MLmodel (atomically; unchanged if equal).

    A lock outside the model directory is not recorded (False): MLmodel only names files inside the model
    (see docs/security.md); such a lock is used with ``--lockfile``.
    """
    model_dir = Path(model_dir)
    lock_path = Path(lock_path).resolve()
    try:
        value = lock_path.relative_to(model_dir.resolve()).as_posix()
    except ValueError:
        return False
    with locked_dir(model_dir):
        mlmodel = MLmodel.load(model_dir / MLMODEL)
        if mlmodel.extra.get(MLMODEL_KEY) != value:
            mlmodel.extra[MLMODEL_KEY] = value
            atomic_write_text(model_dir / MLMODEL, mlmodel.to_yaml())
    return True
