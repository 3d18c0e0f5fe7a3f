"""Who made a distribution load: the model (keep it) or a library's optional import (drop it).

Libraries import optional helpers when they happen to be installed (scikit-learn tries pandas, torch tries
numpy, pandas tries pyarrow). Those show up in the capture although the model does not need them. A
distribution is dropped when nothing on the model's side imports it (its code, its unpickling, envrepro's
loader) and the import statement that first loaded it belongs to a library and is guarded by
``except ImportError`` / ``contextlib.suppress(ImportError)``, or to a library that is itself dropped.
When the first load came from C (an extension's init), every import statement naming it must be such an
optional library import. No recorded import statement at all (unknown provenance) keeps a distribution, and
so does an ``importlib.import_module`` call that asks for it outside such a guard (scikit-learn's
``set_output(transform="pandas")`` asks for pandas by name at predict time, although its first import of
pandas was an optional one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .capture import CapturedModule
from .mapping import ModuleResolver
from .static import guarded_block_lines, guarded_import_lines, import_lines


def optional_distributions(by_dist: Mapping[str, Sequence[CapturedModule]],
                           first_sites: Mapping[str, tuple[str, str, int]], resolver: ModuleResolver,
                           by_name: Mapping[str, Sequence[tuple[str, str, int]]] | None = None) -> set[str]:
    def owner(importer: str, file: str) -> str | None:
        resolution = resolver.resolve(importer, file)
        return resolution.distribution if resolution.kind == "dist" else None

    by_name = by_name or {}
    candidates = {}
    for dist, modules in by_dist.items():
        if any(owner(importer, file) is None for m in modules for importer, file, _ in m.sites):
            continue  # the model's own code (or its unpickling) imports it
        if any(line not in guarded_block_lines(file) for m in modules for _, file, line in by_name.get(m.name, ())):
            continue  # asked for by name where it is required
        tops = {m.name.split(".")[0] for m in modules}
        firsts = [first_sites[top] for top in tops if top in first_sites]
        if len(firsts) < len(tops):
            # Loaded first from C (an extension module's init): judge by every import statement naming it.
            # Re-imports from C (not import statements) are the extension's business and say nothing.
            firsts = [site for m in modules for site in m.sites if site[2] in import_lines(site[1])[0]]
        if not firsts:
            continue  # no import statement at all: unknown provenance keeps it
        candidates[dist] = firsts
    dropped: set[str] = set()
    changed = True
    while changed:
        changed = False
        for dist, firsts in candidates.items():
            if dist in dropped:
                continue
            if all(_optional(site, dist, dropped, owner) for site in firsts):
                dropped.add(dist)
                changed = True
    return dropped


def _optional(site, dist, dropped, owner) -> bool:
    importer, file, line = site
    by = owner(importer, file)
    if by is None or by == dist:
        return False
    return by in dropped or line in guarded_import_lines(file)
