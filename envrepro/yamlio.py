"""Reading YAML files with errors that name the file and the line, refusing alias bombs."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import yaml

from .errors import ModelFormatError
from .fsutil import read_text

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

# Aliases (``*a``) repeat a node without copying it: 600 bytes of nested aliases stand for billions of
# nodes, which whoever walks the data (str(), comparisons, deep copies) then expands. No file envrepro
# reads needs more than a little aliasing, and none is nested this deep.
MAX_ALIAS_EXPANSION = 100_000  # nodes that aliases may add to a document
MAX_DEPTH = 200


def node_graph_problem(root: yaml.Node | None, text: str | None = None) -> str | None:
    """Why a composed document must not be constructed (alias expansion, recursion, depth), or None.

    The expanded size is counted over the node graph with memoization by node identity, so the count
    itself takes time proportional to the distinct nodes, however large the expansion. Given the document's
    ``text``: without an anchor ("&") there is no alias, the nodes form a tree, and only its depth needs
    checking (:func:`too_deep`, a fifth of the cost: the accounting was half of reading a lock file).
    """
    if text is not None and "&" not in text:
        return too_deep(root)
    if root is None:
        return None
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # started, not finished: the ancestors of the node being looked at
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 0, False)]
    while stack:
        node, depth, finished = stack.pop()
        key = id(node)
        children = _children(node)
        if finished:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            return "a YAML alias refers to a node that contains it (a recursive document)"
        if depth > MAX_DEPTH:
            return f"YAML nested more than {MAX_DEPTH} levels deep"
        open_nodes.add(key)
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in children if id(child) not in sizes)
    if sizes[id(root)] - len(sizes) > MAX_ALIAS_EXPANSION:
        return f"YAML aliases expand it by more than {MAX_ALIAS_EXPANSION:,} nodes (an alias bomb?)"
    return None


def too_deep(root: yaml.Node | None) -> str | None:
    """Whether a node sits deeper than MAX_DEPTH, one level at a time (only collections have children; no
    tuple per node). Enough on its own for a document without aliases."""
    level: list[yaml.Node] = [root] if isinstance(root, (yaml.SequenceNode, yaml.MappingNode)) else []
    depth = 0
    while level:
        children: list[yaml.Node] = []
        for node in level:
            if isinstance(node, yaml.SequenceNode):
                children += node.value
            else:
                children += itertools.chain.from_iterable(node.value)
        depth += 1
        if children and depth > MAX_DEPTH:
            return f"YAML nested more than {MAX_DEPTH} levels deep"
        level = [child for child in children if not isinstance(child, yaml.ScalarNode)]
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def load_yaml_text(text: str, *, path: str | os.PathLike | None = None, expect: type = dict,
                   what: str = "YAML file") -> Any:
    """Parse ``text`` safely (no tags that run code, no alias bombs); errors are one line naming ``path``."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        problem = node_graph_problem(node, text)
        if problem is not None:
            raise ModelFormatError(f"refused {what}: {problem}", path=path,
                                   hint="write the values out instead of using anchors and aliases")
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ModelFormatError(f"malformed {what}{where}: {problem}", path=path,
                               hint="fix the YAML syntax") from None
    finally:
        loader.dispose()
    if not isinstance(data, expect):
        raise ModelFormatError(
            f"malformed {what}: expected a {expect.__name__} at the top level, got {type(data).__name__}",
            path=path,
        )
    return data


def load_yaml_file(path: str | os.PathLike, *, expect: type = dict, what: str = "YAML file",
                   root: str | os.PathLike | None = None) -> Any:
    """Read (a regular file, bounded; inside ``root`` when given) and parse as :func:`load_yaml_text`."""
    path = Path(path)
    return load_yaml_text(read_text(path, what=what, root=root), path=path, expect=expect, what=what)


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, default_flow_style=False, sort_keys=False)
