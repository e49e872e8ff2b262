"""The package's layering: no import cycle, no import up a layer, no private name taken from another module, and
README's import graph is the one the code has (scripts/import_graph.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _graph_module():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_has_no_cycle_no_upward_import_and_no_private_import() -> None:
    graph = _graph_module()
    assert graph.problems(graph.graph()) == []


def test_models_and_data_import_no_stage_and_stages_import_neither_pipeline_nor_cli() -> None:
    graph = _graph_module()
    edges = graph.graph()
    stages = {"train", "degradation", "prune", "quantize", "check", "export", "runtime", "latency", "bench", "gate"}
    for module, targets in edges.items():
        top = module.split(".")[0]
        tops = {t.split(".")[0] for t in targets}
        if top in ("models", "data"):
            assert not tops & stages, (module, tops & stages)
        if top in stages:
            assert not tops & {"pipeline", "cli"}, (module, tops)


def test_the_checker_catches_what_it_must() -> None:
    """Hand-made graphs with one known fault each (independent of the package's own graph)."""
    graph = _graph_module()
    assert graph.cycles({"a": {"b": ()}, "b": {"c": ()}, "c": {"a": ()}}) == [["a", "b", "c", "a"]]
    assert graph.cycles({"a": {"b": ()}, "b": {}}) == []
    assert graph.problems({"models.io": {"train": ()}, "train": {}}) == [
        "models.io (models, data) imports train (stages)"
    ]
    assert graph.problems({"train": {"prune": ("_finetune",)}, "prune": {}}) == [
        "train imports private _finetune from prune"
    ]
    assert graph.problems({"cli": {"pipeline": ("build",)}, "pipeline": {}}) == []


def test_readme_shows_the_current_import_graph() -> None:
    graph = _graph_module()
    block = graph.readme_block((ROOT / "README.md").read_text())
    assert block is not None, "README has no import-graph block"
    assert block == graph.render(graph.graph()), (
        "README's import graph is stale: python scripts/import_graph.py --readme"
    )
