"""Fail when any package of the repository has an import cycle between its modules.

The packages are the ``root_packages`` of ``.importlinter``. Imports under ``if TYPE_CHECKING:`` count: a
type-only cycle still ties the modules together. Each cycle is printed as a chain of imports with line numbers.

Usage: ``python scripts/check_import_cycles.py [CONFIG]`` (default ``.importlinter``); exit status 1 on a cycle.
"""

from __future__ import annotations

import configparser
import sys
from collections import deque
from collections.abc import Iterable

import grimp


def root_packages(config_path: str) -> list[str]:
    """The ``root_packages`` listed in the import-linter configuration."""
    config = configparser.ConfigParser()
    if not config.read(config_path):
        raise SystemExit(f"{config_path}: not found")
    return config["importlinter"]["root_packages"].split()


def internal_imports(graph: grimp.ImportGraph, package: str) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports directly."""
    modules = graph.find_descendants(package) | {package}
    return {module: graph.find_modules_directly_imported_by(module) & modules for module in modules}


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (deep packages would exhaust recursion): the components, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            successor = next(successors, None)
            if successor is not None:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(edges[successor]))))
                elif successor in on_stack:
                    low[node] = min(low[node], index[successor])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def shortest_path(edges: dict[str, set[str]], start: str, goal: str, within: set[str]) -> list[str]:
    """Breadth-first path ``start`` -> ``goal`` over modules in ``within`` (both ends included)."""
    previous: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in sorted(edges[node] & within):
            if successor == goal:
                path = [goal, node]
                while previous[path[-1]] is not None:
                    path.append(previous[path[-1]])  # type: ignore[arg-type]
                return path[::-1]
            if successor not in previous:
                previous[successor] = node
                queue.append(successor)
    raise ValueError(f"no path {start} -> {goal}")


def describe_cycle(graph: grimp.ImportGraph, edges: dict[str, set[str]], component: list[str]) -> list[str]:
    """One cycle through the component's first module, as 'importer -> imported (line N: code)' lines."""
    first = component[0]
    successor = min(edges[first] & set(component))
    path = [first, *shortest_path(edges, successor, first, set(component))] if successor != first else [first, first]
    lines = []
    for importer, imported in zip(path, path[1:]):
        details = graph.get_import_details(importer=importer, imported=imported)
        where = f" (line {details[0]['line_number']}: {details[0]['line_contents']})" if details else ""
        lines.append(f"  {importer} -> {imported}{where}")
    return lines


def find_cycles(graph: grimp.ImportGraph, packages: Iterable[str]) -> list[list[str]]:
    """A description of one cycle per strongly connected group of modules, over all ``packages``."""
    found = []
    for package in packages:
        edges = internal_imports(graph, package)
        for component in strongly_connected(edges):
            if len(component) > 1 or component[0] in edges[component[0]]:
                found.append(
                    [
                        f"{package}: {len(component)} modules import each other: {', '.join(component)}",
                        *describe_cycle(graph, edges, component),
                    ]
                )
    return found


def main(argv: list[str]) -> int:
    packages = root_packages(argv[1] if len(argv) > 1 else ".importlinter")
    graph = grimp.build_graph(*packages, exclude_type_checking_imports=False, cache_dir=None)
    cycles = find_cycles(graph, packages)
    for lines in cycles:
        print("\n".join(lines))
    if cycles:
        print(f"import cycles: {len(cycles)} (TYPE_CHECKING imports included)", file=sys.stderr)
        return 1
    print(f"import cycles: none in {len(packages)} packages (TYPE_CHECKING imports included)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
