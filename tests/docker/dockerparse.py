"""Read a generated Dockerfile with dockerfile-parse: its stages, and the paths its COPY instructions map."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from dockerfile_parse import DockerfileParser


@dataclass
class Instruction:
    name: str  # upper case: FROM, RUN, COPY, ...
    value: str


def stages(dockerfile: Path) -> list[list[Instruction]]:
    """The instructions of each stage (a stage starts at FROM), as parsed by dockerfile-parse."""
    parser = DockerfileParser(path=str(dockerfile))
    result: list[list[Instruction]] = []
    for item in parser.structure:
        ins = Instruction(item["instruction"].upper(), item["value"])
        if ins.name == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def find(stage: list[Instruction], name: str) -> list[Instruction]:
    return [i for i in stage if i.name == name]


def copy_args(ins: Instruction) -> tuple[list[str], list[str]]:
    """(flags, paths) of a COPY: JSON form or shell form."""
    value = ins.value.strip()
    flags = []
    while value.startswith("--"):
        flag, _, value = value.partition(" ")
        flags.append(flag)
        value = value.strip()
    paths = json.loads(value) if value.startswith("[") else shlex.split(value)
    return flags, paths


def env_vars(stage: list[Instruction]) -> dict[str, str]:
    out = {}
    for ins in find(stage, "ENV"):
        for part in shlex.split(ins.value.replace("\\\n", " ")):
            key, _, value = part.partition("=")
            out[key] = value
    return out


def labels(stage: list[Instruction]) -> dict[str, str]:
    out = {}
    for ins in find(stage, "LABEL"):
        for part in shlex.split(ins.value.replace("\\\n", " ")):
            key, _, value = part.partition("=")
            out[key] = value
    return out
