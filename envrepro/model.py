"""The on-disk model format: MLmodel metadata and the model directory (MLflow-compatible)."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import ModelFormatError
from .fsutil import is_inside
from .yamlio import dump_yaml, load_yaml_file

MLMODEL = "MLmodel"
PYFUNC = "python_function"
CONDA_FILE = "conda.yaml"
PYTHON_ENV_FILE = "python_env.yaml"
REQUIREMENTS_FILE = "requirements.txt"
CONSTRAINTS_FILE = "constraints.txt"
CODE_DIR = "code"
INPUT_EXAMPLE_FILE = "input_example.json"
PROVENANCE_FILE = "envrepro_requirements.json"
# The conda channel envrepro writes into conda.yaml, and the one `audit --fix` migrates to.
DEFAULT_CHANNEL = "conda-forge"
# Flavor configuration keys that name a file or directory of the model (envrepro's and MLflow's flavors).
ARTIFACT_KEYS = ("pickled_model", "python_model", "model_data", "model_path", "data")


@dataclass
class MLmodel:
    """MLmodel contents. Unknown keys (written by MLflow or future versions) are kept in ``extra``."""

    flavors: dict[str, dict[str, Any]] = field(default_factory=dict)
    model_uuid: str | None = None
    utc_time_created: str | None = None
    envrepro_version: str | None = None
    mlflow_version: str | None = None
    metadata: dict[str, Any] | None = None
    saved_input_example_info: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _KNOWN = ("flavors", "model_uuid", "utc_time_created", "envrepro_version", "mlflow_version",
              "metadata", "saved_input_example_info")

    @classmethod
    def new(cls) -> MLmodel:
        from .version import __version__

        return cls(
            model_uuid=uuid.uuid4().hex,
            utc_time_created=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f"),
            envrepro_version=__version__,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, path: Path | None = None) -> MLmodel:
        flavors = data.get("flavors")
        if not isinstance(flavors, dict) or not flavors:
            raise ModelFormatError("malformed MLmodel: no 'flavors' map", path=path,
                                   hint="an MLmodel needs at least one flavor, e.g. python_function")
        for name, conf in flavors.items():
            if conf is not None and not isinstance(conf, dict):
                raise ModelFormatError(f"malformed MLmodel: flavor {name!r} must be a map", path=path)
        model = cls(flavors={k: dict(v or {}) for k, v in flavors.items()})
        for key in cls._KNOWN[1:]:
            value = data.get(key)
            setattr(model, key, str(value) if key in ("mlflow_version", "envrepro_version") and value is not None
                    else value)
        model.extra = {k: v for k, v in data.items() if k not in cls._KNOWN}
        return model

    @classmethod
    def load(cls, path: str | os.PathLike) -> MLmodel:
        path = Path(path)
        return cls.from_dict(load_yaml_file(path, what="MLmodel"), path=path)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("envrepro_version", "flavors", "metadata", "mlflow_version", "model_uuid",
                    "saved_input_example_info", "utc_time_created"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out.update(self.extra)
        return out

    def to_yaml(self) -> str:
        return dump_yaml(self.to_dict())

    @property
    def pyfunc_conf(self) -> dict[str, Any] | None:
        return self.flavors.get(PYFUNC)

    def env_file_names(self) -> dict[str, str]:
        """The env files this MLmodel points at. Old MLflow wrote ``env: conda.yaml`` (a string)."""
        env = (self.pyfunc_conf or {}).get("env")
        if isinstance(env, str):
            return {"conda": env}
        if isinstance(env, dict):
            return {k: str(v) for k, v in env.items() if isinstance(v, str)}
        return {}


@dataclass
class ModelDir:
    """A model directory on disk."""

    path: Path
    mlmodel: MLmodel

    @classmethod
    def open(cls, path: str | os.PathLike) -> ModelDir:
        path = Path(path)
        if path.is_file() and path.name == MLMODEL:
            path = path.parent
        if not path.exists():
            raise ModelFormatError("model directory not found", path=path,
                                   hint="pass the directory that contains MLmodel")
        if not path.is_dir():
            raise ModelFormatError("not a model directory", path=path, hint="pass the directory that contains MLmodel")
        mlmodel_path = path / MLMODEL
        if not mlmodel_path.exists():
            raise ModelFormatError("no MLmodel file in this directory", path=path,
                                   hint="is this a model directory? MLflow runs keep models under artifacts/<name>/")
        if not is_inside(path, MLMODEL):
            raise ModelFormatError("MLmodel is a symlink out of the model directory", path=mlmodel_path)
        return cls(path=path, mlmodel=MLmodel.load(mlmodel_path))

    def inside(self, value: Any, key: str) -> Path:
        """``value``, a path MLmodel gives under ``key``, as a path in the model directory.

        Symlinks are resolved: a value (or a symlink in the model) that leads out of the model directory is
        a ModelFormatError naming MLmodel and the value, so nothing outside is read, written or imported.
        """
        if not isinstance(value, str) or not value.strip() or "\0" in value:
            raise ModelFormatError(f"malformed MLmodel: {key} must be a path inside the model directory, "
                                   f"not {value!r}", path=self.path / MLMODEL)
        if not is_inside(self.path, value):
            raise ModelFormatError(f"{key} {value!r} points outside the model directory", path=self.path / MLMODEL,
                                   hint="paths in MLmodel must stay inside the model directory; fix MLmodel "
                                        "or re-save the model")
        real = os.path.realpath(self.path / value)
        return self.path / os.path.relpath(real, os.path.realpath(self.path))

    @property
    def code_dir(self) -> Path | None:
        code = (self.mlmodel.pyfunc_conf or {}).get("code")
        if isinstance(code, str):
            candidate = self.inside(code, f"flavors.{PYFUNC}.code")
        else:
            candidate = self.path / CODE_DIR
            if candidate.is_symlink() and not is_inside(self.path, CODE_DIR):
                raise ModelFormatError(f"{CODE_DIR}/ is a symlink out of the model directory", path=candidate)
        return candidate if candidate.is_dir() else None

    def artifact_paths(self) -> list[tuple[str, str, Path]]:
        """(flavor, key, path) of every file a flavor configuration names, each checked with :meth:`inside`:
        the keys of ARTIFACT_KEYS and the ``path`` of each of a pyfunc model's ``artifacts``."""
        found = []
        for name, conf in self.mlmodel.flavors.items():
            for key in ARTIFACT_KEYS:
                value = conf.get(key)
                if value is not None:
                    found.append((name, key, self.inside(value, f"flavors.{name}.{key}")))
            artifacts = conf.get("artifacts")
            if isinstance(artifacts, dict):
                for artifact, entry in artifacts.items():
                    value = entry.get("path") if isinstance(entry, dict) else entry
                    found.append((name, f"artifact {artifact!r}",
                                  self.inside(value, f"flavors.{name}.artifacts.{artifact}.path")))
            elif artifacts is not None:
                raise ModelFormatError(f"malformed MLmodel: flavors.{name}.artifacts must be a map",
                                       path=self.path / MLMODEL)
        return found

    def file(self, name: str) -> Path:
        return self.path / name

    def env_path(self, kind: str) -> Path | None:
        """Path of the env file of ``kind`` ('conda' or 'virtualenv') if the model has one (inside it)."""
        name = self.mlmodel.env_file_names().get(kind)
        if name is None:
            default = {"conda": CONDA_FILE, "virtualenv": PYTHON_ENV_FILE}[kind]
            name = default if os.path.lexists(self.path / default) else None
        return self.inside(name, f"flavors.{PYFUNC}.env.{kind}") if name else None
