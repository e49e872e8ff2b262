"""write_report(run) -> report.md and a self-contained report.html (plots embedded) for a run folder.

The report only reads what the stages wrote: config.yaml, baseline/metrics.json, pruned/prune.json,
export/manifest.json and bench.json, and the plots of each stage (training curves, block scores, Pareto
accuracy vs latency), plus one plot of its own: every artifact's accuracy against its latency.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from resnet_edge.errors import ConfigError
from resnet_edge.fsutil import write_text
from resnet_edge.plotting import pyplot, save_figure

PLOTS = (("Training curves (uncompressed model)", "baseline/curves.png"),
         ("Block scores (residual energy and ablation)", "pruned/block_scores.png"),
         ("Depth pruning: accuracy against latency and MACs", "pruned/pareto.png"),
         ("Artifacts: accuracy against latency", "bench.png"))  # fmt: skip


def _read(path: Path) -> Any:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"'{path}' is not valid JSON ({str(exc)[:100]}); rerun the stage that writes it") from None


def _fmt(value: Any, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def artifact_table(run: Path) -> tuple[list[str], list[list[str]]]:
    """(header, rows): per artifact depth, MACs, params, size, accuracy, p50 latency, speed-up vs uncompressed."""
    bench = _read(run / "bench.json")
    if bench is None:
        raise ConfigError(f"run folder '{run}' has no bench.json; run `resnet-edge build` (or bench) first")
    manifest = _read(run / "manifest.json") or {}
    valid = {a["path"]: a["valid"] for a in manifest.get("artifacts", [])}
    unpruned = _read(run / "export" / "unpruned" / "manifest.json") or {}  # the yardstick export, validated too
    valid.update({f"export/unpruned/{a['path']}": a["valid"] for a in unpruned.get("artifacts", [])})
    depths = _depths(run)
    threads = [str(t) for t in bench["threads"]]
    reference = bench.get("reference")
    header = ["artifact", "depth", "MACs (M)", "params (K)", "size (MB)", "accuracy %",
              *[f"p50 ms @{t} thr" for t in threads], *[f"speed-up @{t} thr" for t in threads],
              *([f"vs unpruned TFLite fp32 @{t} thr" for t in threads] if reference else []), "valid"]  # fmt: skip
    rows = []
    for r in bench["rows"]:
        ratios = [r.get("ratio") or {}, *([r.get("reference_ratio") or {}] if reference else [])]
        rows.append([r["name"], _fmt(depths.get(r["name"])), f"{r['macs'] / 1e6:.2f}", f"{r['params'] / 1e3:.1f}",
                     f"{r['bytes'] / 1e6:.2f}", _fmt(r["accuracy"], ".2f"),
                     *[f"{r['latency'][t]['p50_ms']:.3f}" for t in threads],
                     *[f"{ratio[t]['speedup']:.2f}x" if t in ratio else "-" for ratio in ratios for t in threads],
                     {True: "yes", False: "NO"}.get(valid.get(r["name"]), "-")])  # fmt: skip
    return header, rows


def deploy_table(run: Path) -> tuple[str, list[str], list[list[str]]] | None:
    """(title, header, rows) of the latency-only timing at the deploy size, when the run has one."""
    deploy = (_read(run / "bench.json") or {}).get("deploy")
    if not deploy:
        return None
    threads = [str(t) for t in deploy["threads"]]
    header = ["artifact", "MACs (M)", *[f"p50 ms @{t} thr" for t in threads],
              *[f"vs {deploy['baseline']} @{t} thr" for t in threads]]  # fmt: skip
    rows = [[r["name"], f"{r['macs'] / 1e6:.2f}", *[f"{r['latency'][t]['p50_ms']:.3f}" for t in threads],
             *[f"{r['ratio'][t]['speedup']:.2f}x" for t in threads]] for r in deploy["rows"]]  # fmt: skip
    size = deploy["input_size"]
    return f"At the deploy size {size}x{size} (latency only, each architecture of the run)", header, rows


def _depths(run: Path) -> dict[str, int]:
    """Depth of each artifact: the baseline's, and the pruned model's for everything exported from it."""
    out = {}
    base = _read(run / "baseline" / "model_config.json")
    pruned = _read(run / "pruned" / "prune.json")
    if base:
        from resnet_edge.prune import load_model_config

        out["baseline/model.keras"] = load_model_config(run / "baseline" / "model.keras").arch.depth
        depth = out["baseline/model.keras"]
        if pruned:
            depth = next(s["depth"] for s in pruned["steps"] if s["step"] == pruned["chosen_step"])
            out["pruned/model.keras"] = depth
        for path in (run / "export").glob("*.*"):
            out[f"export/{path.name}"] = depth
        out["export/unpruned/model_fp32.tflite"] = out["baseline/model.keras"]
    return out


def _plot_bench(run: Path) -> None:
    bench = _read(run / "bench.json")
    t = str(bench["threads"][-1])
    rows = [r for r in bench["rows"] if r["accuracy"] is not None]
    if not rows:
        return
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    markers = "osD^v<>ph*"
    for i, r in enumerate(rows):  # a legend, not labels: artifacts of equal accuracy and speed overlap
        ax.plot(r["latency"][t]["p50_ms"], r["accuracy"], markers[i % len(markers)], ms=8, label=r["name"])
    ax.legend(fontsize=7, loc="best")
    ax.set(xlabel=f"p50 latency at batch 1, {t} threads (ms)", ylabel="validation accuracy (%)", xscale="log")
    ax.grid(alpha=0.3)
    ax.set_title("every artifact of the run, measured side by side")
    save_figure(fig, run / "bench.png")


def _summary(run: Path) -> list[str]:
    lines = []
    metrics = _read(run / "baseline" / "metrics.json")
    prune = _read(run / "pruned" / "prune.json")
    if metrics:
        lines.append(f"Uncompressed model: {metrics['model']}, best validation accuracy "
                     f"{100 * metrics['best_val_accuracy']:.2f} % after {metrics['epochs']} epochs "
                     f"({metrics['train_seconds']:.0f} s on {metrics['device']}).")  # fmt: skip
    if prune:
        steps = {s["step"]: s for s in prune["steps"]}
        base, chosen = steps[0], steps[prune["chosen_step"]]
        fewer = 100 * (1 - chosen["macs"] / base["macs"])
        lines.append(f"Depth pruning: depth {base['depth']} -> {chosen['depth']}, MACs {base['macs'] / 1e6:.2f} M -> "
                     f"{chosen['macs'] / 1e6:.2f} M ({fewer:.1f} % fewer), accuracy "
                     f"{base['val_accuracy']:.2f} % -> {chosen['val_accuracy']:.2f} %.")  # fmt: skip
    return lines


def write_report(run: str | Path) -> Path:
    """Write report.md and report.html into `run`; returns the HTML path."""
    run = Path(run)
    if not run.is_dir():
        raise ConfigError(f"run folder '{run}' does not exist; give a folder written by `resnet-edge build`")
    try:
        header, rows = artifact_table(run)
        _plot_bench(run)
        summary = _summary(run)
        deploy = deploy_table(run)
    except (KeyError, TypeError, IndexError, AttributeError, StopIteration) as exc:  # valid JSON of another shape
        raise ConfigError(
            f"run folder '{run}': bench.json, manifest.json, prune.json or metrics.json is not what build writes "
            f"({type(exc).__name__} {exc!s:.60}); rerun `resnet-edge build` (or bench)"
        ) from None
    plots = [(title, run / rel) for title, rel in PLOTS if (run / rel).exists()]
    md = [f"# resnet-edge report: {run.name}", "", *summary, "",
          "MACs count one multiply-add as 1 (FLOPs = 2 x MACs). Latency at batch 1, all artifacts measured "
          "interleaved in one run; speed-up is against the uncompressed Keras model (median of per-round ratios), "
          "and against the unpruned model as TFLite fp32 (same runtime: what depth and int8 gained).",
          "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]  # fmt: skip
    md += ["| " + " | ".join(r) + " |" for r in rows]
    if deploy:
        md += ["", f"## {deploy[0]}", "", "| " + " | ".join(deploy[1]) + " |", "|" + "---|" * len(deploy[1])]
        md += ["| " + " | ".join(r) + " |" for r in deploy[2]]
    for title, path in plots:
        md += ["", f"## {title}", "", f"![{title}]({path.relative_to(run)})"]
    write_text(run / "report.md", "\n".join(md) + "\n")
    html_path = run / "report.html"
    write_text(html_path, _html(run.name, summary, header, rows, plots, deploy))
    return html_path


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _html(name: str, summary: list[str], header: list[str], rows: list[list[str]], plots, deploy) -> str:
    def image(path: Path) -> str:
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()

    table = _html_table(header, rows)
    if deploy:
        table += f"<h2>{html.escape(deploy[0])}</h2>" + _html_table(deploy[1], deploy[2])
    figures = "".join(f"<h2>{html.escape(t)}</h2><img alt='{html.escape(t)}' src='{image(p)}'>" for t, p in plots)
    paragraphs = "".join(f"<p>{html.escape(s)}</p>" for s in summary)
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;"
             "text-align:right}td:first-child,th:first-child{text-align:left}img{max-width:100%}")  # fmt: skip
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>resnet-edge report: {html.escape(name)}"
            f"</title><style>{style}</style></head><body><h1>resnet-edge report: {html.escape(name)}</h1>"
            f"{paragraphs}<p>MACs count one multiply-add as 1. Latency at batch 1, measured interleaved in one run; "
            f"speed-up against the uncompressed Keras model.</p>{table}{figures}"
            "</body></html>\n")  # fmt: skip
