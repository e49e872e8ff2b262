"""The package's import graph, by layer, from the source (every import, lazy ones inside functions included).

    python scripts/import_graph.py            # the graph as README's layout section shows it
    python scripts/import_graph.py --check    # exit 1 on a cycle or a broken layering rule
    python scripts/import_graph.py --readme   # rewrite README's import-graph block with the current graph

Layers, lowest first: a module may import its own layer and the ones below, never one above. tests/test_layering.py
runs the same checks; README's block is this script's output (a test compares them).
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "resnet_edge"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE
# lowest first; a module belongs to the first layer with a prefix of its name
LAYERS = (
    ("base", ("errors", "console", "fsutil", "settings", "_tf", "plotting", "metrics")),
    ("models, data", ("models", "data")),
    ("config", ("config",)),
    (
        "stages",
        (
            "train",
            "degradation",
            "prune",
            "quantize",
            "check",
            "export",
            "runtime",
            "latency",
            "footprint",
            "bench",
            "gate",
        ),
    ),
    ("tables", ("tables",)),  # what the CLI and build print: it reads every stage's result
    ("pipeline", ("pipeline",)),
    ("cli", ("cli", "__main__")),
)


def modules() -> dict[str, Path]:
    """{dotted name without the package prefix: file}: `cli.options`, `export` (a package's __init__)."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            found[".".join(parts)] = path
    return found


def layer(module: str) -> int:
    top = module.split(".")[0]
    for i, (_, prefixes) in enumerate(LAYERS):
        if top in prefixes:
            return i
    raise ValueError(f"module {module} is in no layer of scripts/import_graph.py; add it to LAYERS")


def _imports(path: Path, known: set[str]) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(imported module, names taken from it) for every resnet_edge import in the file."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    yield alias.name.removeprefix(PACKAGE + "."), ()
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
            base = node.module.removeprefix(PACKAGE).lstrip(".")
            names = tuple(alias.name for alias in node.names)
            submodules = [f"{base}.{n}".lstrip(".") for n in names if f"{base}.{n}".lstrip(".") in known]
            yield from ((m, ()) for m in submodules)
            rest = tuple(n for n in names if f"{base}.{n}".lstrip(".") not in known)
            if base and rest:
                yield base, rest


def graph() -> dict[str, dict[str, tuple[str, ...]]]:
    """{module: {imported module: names}} inside the package."""
    found = modules()
    edges: dict[str, dict[str, tuple[str, ...]]] = {}
    for module, path in found.items():
        out: dict[str, tuple[str, ...]] = {}
        for target, names in _imports(path, set(found)):
            if target != module:
                out[target] = tuple(sorted(set(out.get(target, ()) + names)))
        edges[module] = out
    return edges


def cycles(edges: dict[str, dict[str, tuple[str, ...]]]) -> list[list[str]]:
    """Every import cycle, each as the list of modules around it (depth-first search)."""
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for target in edges.get(node, {}):
            if state.get(target) == "open":
                found.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                visit(target, [*stack, target])
        state[node] = "done"

    for node in edges:
        if node not in state:
            visit(node, [node])
    return found


def problems(edges: dict[str, dict[str, tuple[str, ...]]]) -> list[str]:
    """Cycles, imports that run up a layer, and private names taken from another module."""
    found = [" -> ".join(c) for c in cycles(edges)]
    for module, targets in edges.items():
        for target, names in targets.items():
            if layer(target) > layer(module):
                found.append(f"{module} ({LAYERS[layer(module)][0]}) imports {target} ({LAYERS[layer(target)][0]})")
            private = [n for n in names if n.startswith("_")]
            if private:
                found.append(f"{module} imports private {', '.join(private)} from {target}")
    return found


def render(edges: dict[str, dict[str, tuple[str, ...]]]) -> str:
    """One line per module, grouped by layer, top layer first: `module -> what it imports`."""
    lines = []
    for i in reversed(range(len(LAYERS))):
        members = sorted(m for m in edges if layer(m) == i)
        lines.append(f"[{LAYERS[i][0]}]")
        for m in members:
            targets = ", ".join(sorted(edges[m]))
            lines.append(f"  {m}" + (f" -> {targets}" if targets else ""))
    return "\n".join(lines)


README_BLOCK = re.compile(r"(<!-- import-graph:start -->\n```\n)(.*?)(\n```\n<!-- import-graph:end -->)", re.S)


def readme_block(readme: str) -> str | None:
    """The graph README shows, or None when it has no block."""
    found = README_BLOCK.search(readme)
    return found.group(2) if found else None


def main(argv: list[str]) -> int:
    edges = graph()
    if "--readme" in argv:
        path = ROOT.parent / "README.md"
        text = path.read_text()
        path.write_text(README_BLOCK.sub(lambda m: m.group(1) + render(edges) + m.group(3), text))
        return 0
    if "--check" in argv:
        found = problems(edges)
        for line in found:
            print(line)
        return 1 if found else 0
    print(render(edges))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
