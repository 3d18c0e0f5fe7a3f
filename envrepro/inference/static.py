"""Read the model's own code for imports that the input example never reaches.

Two sources: the module that defines the model's class (only the code reachable from that class: its body,
its methods, and the module-level functions, classes and imports they name), and every ``.py`` file under
the model's ``code/`` directory (all of it: it is the model's own code by declaration).

Imports under ``if TYPE_CHECKING:`` are skipped, and so are imports guarded by ``except ImportError`` (the
code itself says they are optional); those are still found when the input example actually reaches them.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

_OPTIONAL_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


@dataclass(frozen=True)
class StaticImport:
    module: str   # absolute dotted name
    file: str
    line: int


def _resolve_relative(module: str | None, level: int, package: str | None) -> str | None:
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if len(parts) < level:
        return None  # beyond the top-level package: nothing an installed distribution could provide
    base = parts[: len(parts) - (level - 1)]
    return ".".join(base + ([module] if module else []))


class _ImportCollector(ast.NodeVisitor):
    """Collects import statements, skipping TYPE_CHECKING blocks and ``except ImportError`` guarded ones."""

    def __init__(self, file: str, package: str | None):
        self.file = file
        self.package = package
        self.found: list[StaticImport] = []
        self._optional = 0

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else ""
        if name == "TYPE_CHECKING":
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Try(self, node: ast.Try | ast.TryStar) -> None:
        guarded = any(_catches_import_error(h) for h in node.handlers)
        self._optional += guarded
        for statement in node.body:
            self.visit(statement)
        self._optional -= guarded
        for child in [*node.handlers, *node.orelse, *node.finalbody]:
            self.visit(child)

    visit_TryStar = visit_Try

    def visit_Import(self, node: ast.Import) -> None:
        if not self._optional:
            for alias in node.names:
                self.found.append(StaticImport(alias.name, self.file, node.lineno))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if self._optional:
            return
        base = _resolve_relative(node.module, node.level, self.package)
        if base is None:
            return
        for alias in node.names:
            # ``from pkg import name``: name may be a submodule (needed for namespace packages) or an attribute.
            target = f"{base}.{alias.name}" if alias.name != "*" else base
            self.found.append(StaticImport(target, self.file, node.lineno))

    def visit_Call(self, node: ast.Call) -> None:
        # importlib.import_module("literal") and __import__("literal")
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in ("import_module", "__import__") and node.args and not self._optional:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value:
                self.found.append(StaticImport(first.value, self.file, node.lineno))
        self.generic_visit(node)


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    """The handler catches an ImportError and goes on without the module. One that raises again (``except
    ImportError: raise ImportError("X requires pandas")``) makes the import required, not optional."""
    if any(isinstance(stmt, ast.Raise) for stmt in handler.body):
        return False
    kinds = handler.type
    if kinds is None:
        return True
    names = kinds.elts if isinstance(kinds, ast.Tuple) else [kinds]
    return any((n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) else "")
               in _OPTIONAL_ERRORS for n in names)


def _suppresses_import_error(item: ast.withitem) -> bool:
    expr = item.context_expr
    return isinstance(expr, ast.Call) and _call_name(expr) == "suppress" and any(
        _expr_name(arg) in _OPTIONAL_ERRORS for arg in expr.args)


def _expr_name(node: ast.AST) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _call_name(node: ast.Call) -> str:
    return _expr_name(node.func)


def _parse(path: Path) -> ast.Module | None:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None


def _collect(nodes: Iterable[ast.AST], file: str, package: str | None) -> list[StaticImport]:
    collector = _ImportCollector(file, package)
    for node in nodes:
        collector.visit(node)
    return collector.found


def scan_file(path: Path, package: str | None = None) -> list[StaticImport]:
    """Every import in a file."""
    tree = _parse(path)
    return _collect([tree], str(path), package) if tree is not None else []


def _names_used(nodes: Iterable[ast.AST]) -> set[str]:
    used = set()
    for node in nodes:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                used.add(sub.id)
    return used


def _bindings(tree: ast.Module) -> tuple[dict[str, list[ast.stmt]], dict[str, ast.AST]]:
    """Module-level names bound by imports (name -> import statements) and by def/class statements."""
    imports: dict[str, list[ast.stmt]] = {}
    defs: dict[str, ast.AST] = {}

    def walk(statements: list[ast.stmt], optional: bool) -> None:
        for stmt in statements:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                for alias in stmt.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    imports.setdefault(bound, [])
                    if not optional:
                        imports[bound].append(stmt)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defs[stmt.name] = stmt
            elif isinstance(stmt, ast.If):
                test = stmt.test
                name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", "")
                if name != "TYPE_CHECKING":
                    walk(stmt.body, optional)
                walk(stmt.orelse, optional)
            elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
                guarded = any(_catches_import_error(h) for h in stmt.handlers)  # type: ignore[attr-defined]
                walk(stmt.body, optional or guarded)  # type: ignore[attr-defined]
                for block in ("orelse", "finalbody"):
                    walk(getattr(stmt, block, []), optional)
                for handler in getattr(stmt, "handlers", []):
                    walk(handler.body, optional)
            elif isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        defs.setdefault(target.id, stmt)

    walk(tree.body, False)
    return imports, defs


def _find_class(tree: ast.Module, qualname: str) -> ast.ClassDef | None:
    scope: list[ast.stmt] = tree.body
    node: ast.AST | None = None
    for part in qualname.split("."):
        if part == "<locals>":
            continue
        node = next((n for n in _iter_defs(scope) if getattr(n, "name", None) == part), None)
        if node is None:
            return None
        scope = node.body  # type: ignore[attr-defined]
    return node if isinstance(node, ast.ClassDef) else None


def _iter_defs(statements: list[ast.stmt]) -> Iterator[ast.stmt]:
    for stmt in statements:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield stmt
        elif isinstance(stmt, (ast.If, ast.Try, ast.With)):
            for block in ("body", "orelse", "finalbody"):
                yield from _iter_defs(getattr(stmt, block, []))


def scan_reachable(path: Path, qualname: str | None, package: str | None = None) -> list[StaticImport]:
    """Imports the class ``qualname`` can reach in the module at ``path``; the whole module if not found."""
    tree = _parse(path)
    if tree is None:
        return []
    start = _find_class(tree, qualname) if qualname else None
    if start is None:
        return _collect([tree], str(path), package)
    imports, defs = _bindings(tree)
    todo: list[ast.AST] = [start]
    seen_defs: set[int] = set()
    statements: dict[int, ast.stmt] = {}
    while todo:
        node = todo.pop()
        if id(node) in seen_defs:
            continue
        seen_defs.add(id(node))
        for name in _names_used([node]):
            for stmt in imports.get(name, ()):
                statements[id(stmt)] = stmt
            if name in defs and id(defs[name]) not in seen_defs:
                todo.append(defs[name])
    nodes: list[ast.AST] = [n for n in ast.walk(tree) if id(n) in seen_defs] + list(statements.values())
    return _collect(nodes, str(path), package)


def scan_code_dir(code_dir: Path) -> list[StaticImport]:
    """Every import in every ``.py`` file under ``code/``; relative imports resolve against the package path."""
    found: list[StaticImport] = []
    if not code_dir.is_dir():
        return found
    for path in sorted(code_dir.rglob("*.py")):
        rel = path.relative_to(code_dir).with_suffix("")
        parts = list(rel.parts)
        package = ".".join(parts[:-1])  # code/src/utils.py and code/src/__init__.py both live in src
        found.extend(scan_file(path, package or None))
    return found


class _GuardedLines(ast.NodeVisitor):
    def __init__(self) -> None:
        self.lines: set[int] = set()
        self.all_lines: set[int] = set()
        self.bodies: set[int] = set()  # every line of a block an ``except ImportError`` guards
        self._depth = 0

    def _body(self, statements: list[ast.stmt]) -> None:
        for stmt in statements:
            self.bodies.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))

    def visit_Try(self, node: ast.Try | ast.TryStar) -> None:
        guarded = any(_catches_import_error(h) for h in node.handlers)
        if guarded:
            self._body(node.body)
        self._depth += guarded
        for statement in node.body:
            self.visit(statement)
        self._depth -= guarded
        for child in [*node.handlers, *node.orelse, *node.finalbody]:
            self.visit(child)

    visit_TryStar = visit_Try

    def visit_With(self, node: ast.With) -> None:
        # with contextlib.suppress(ImportError): import x
        guarded = any(_suppresses_import_error(item) for item in node.items)
        if guarded:
            self._body(node.body)
        self._depth += guarded
        self.generic_visit(node)
        self._depth -= guarded

    def _import(self, node: ast.stmt) -> None:
        span = range(node.lineno, (node.end_lineno or node.lineno) + 1)
        self.all_lines.update(span)
        if self._depth:
            self.lines.update(span)

    visit_Import = visit_ImportFrom = _import


@functools.lru_cache(maxsize=512)
def _guards(path: str) -> _GuardedLines:
    visitor = _GuardedLines()
    tree = _parse(Path(path))
    if tree is not None:
        visitor.visit(tree)
    return visitor


def import_lines(path: str) -> tuple[frozenset[int], frozenset[int]]:
    """(lines of every import statement, lines of those an ``except ImportError`` guards) in a file."""
    visitor = _guards(path)
    return frozenset(visitor.all_lines), frozenset(visitor.lines)


def guarded_block_lines(path: str) -> frozenset[int]:
    """Every line inside a block that an ``except ImportError`` (or ``suppress(ImportError)``) guards."""
    return frozenset(_guards(path).bodies)


def guarded_import_lines(path: str) -> frozenset[int]:
    """Lines of import statements that an ``except ImportError`` guards (the importer treats them as optional)."""
    return import_lines(path)[1]


# --- what reading cannot settle (envrepro.inference.certain falls back to the capture on these) ---------------

# Calls that import, load or run code by a name or a payload only known when they run.
_BUILTINS_RUNNING_CODE = frozenset({"exec", "eval", "compile"})  # as plain names: ``model.eval()`` is torch's
_RUNS_CODE = frozenset({"entry_points", "iter_entry_points", "load_entry_point",
                        "get_entry_map", "spec_from_file_location", "module_from_spec", "run_path", "run_module",
                        "reload", "CDLL", "LoadLibrary"})
_IMPORTS_BY_NAME = frozenset({"import_module", "__import__"})
# Modules whose load()/loads() rebuild objects from a payload (the payload names modules nobody has read).
_DESERIALIZERS = frozenset({"pickle", "_pickle", "cloudpickle", "dill", "joblib", "torch", "marshal", "shelve",
                            "skops"})
_DESERIALIZING = frozenset({"load", "loads", "Unpickler", "unsafe_load", "full_load"})


@dataclass(frozen=True)
class Doubt:
    file: str
    line: int
    what: str


class _DoubtCollector(ast.NodeVisitor):
    def __init__(self, file: str, tree: ast.Module):
        self.file = file
        self.found: list[Doubt] = []
        self.bound: dict[str, str] = {}  # local name -> module it was imported from (``import joblib as jl``)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                self.bound.update((a.asname or a.name.split(".")[0], a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                self.bound.update((a.asname or a.name, node.module) for a in node.names)

    def _add(self, node: ast.AST, what: str) -> None:
        self.found.append(Doubt(self.file, getattr(node, "lineno", 0), what))

    def visit_Try(self, node: ast.Try | ast.TryStar) -> None:
        if any(_catches_import_error(h) for h in node.handlers):
            self._guarded(node.body, "except ImportError")
        self.generic_visit(node)

    visit_TryStar = visit_Try

    def visit_With(self, node: ast.With) -> None:
        if any(_suppresses_import_error(item) for item in node.items):
            self._guarded(node.body, "suppress(ImportError)")
        self.generic_visit(node)

    def _guarded(self, body: list[ast.stmt], by: str) -> None:
        for sub in body:
            for inner in ast.walk(sub):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    self._add(inner, f"an import guarded by {by} (needed only if it runs)")

    def visit_Call(self, node: ast.Call) -> None:
        name = _call_name(node)
        func = node.func
        first = node.args[0] if node.args else None
        literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
        if name in _IMPORTS_BY_NAME and not literal:
            self._add(node, f"{name}() of a name computed at run time")
        elif name in _BUILTINS_RUNNING_CODE and isinstance(func, ast.Name):
            self._add(node, f"{name}() runs code given as data")
        elif name in _RUNS_CODE:
            self._add(node, f"{name}() loads or runs code chosen at run time")
        elif name in _DESERIALIZING:
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else (
                name if isinstance(func, ast.Name) else "")
            module = self.bound.get(owner, "")
            if module.split(".")[0] in _DESERIALIZERS:
                self._add(node, f"{module}.{name}() rebuilds objects whose modules nobody has read")
        self.generic_visit(node)


def read_doubts(path: Path) -> list[Doubt]:
    """What in a file of the model's own code makes its imports depend on running it (or is unreadable)."""
    tree = _parse(path)
    if tree is None:
        return [Doubt(str(path), 0, "the file cannot be parsed")]
    collector = _DoubtCollector(str(path), tree)
    collector.visit(tree)
    return collector.found
