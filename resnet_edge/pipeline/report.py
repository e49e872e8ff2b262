"""write_report(run) -> report.md and a self-contained report.html (plots embedded) for a run folder.

The report only reads what the stages wrote: config.yaml, baseline/metrics.json, pruned/prune.json,
export/manifest.json and bench.json, and the plots of each stage (training curves, block scores, Pareto
accuracy vs latency), plus one plot of its own: every artifact's accuracy against its latency.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from resnet_edge.bench import BenchResult
from resnet_edge.errors import ConfigError
from resnet_edge.fsutil import read_json, write_text
from resnet_edge.models.io import load_model_config
from resnet_edge.pipeline.layout import RunLayout
from resnet_edge.plotting import pyplot, save_figure
from resnet_edge.prune import PruneLog


def _plots(layout: RunLayout) -> list[tuple[str, Path]]:
    return [("Training curves (uncompressed model)", layout.baseline / "curves.png"),
            ("Block scores (residual energy and ablation)", layout.pruned / "block_scores.png"),
            ("Depth pruning: accuracy against latency and MACs", layout.pruned / "pareto.png"),
            ("Artifacts: accuracy against latency", layout.bench_plot)]  # fmt: skip


def _fmt(value: Any, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def _validity(layout: RunLayout) -> dict[str, bool]:
    """{artifact path in the run: valid} from the export manifests (the run's and the unpruned yardstick's)."""
    valid = {}
    for manifest, prefix in ((layout.manifest, ""), (layout.unpruned_manifest, f"{layout.rel(layout.unpruned)}/")):
        for a in (read_json(manifest, "`resnet-edge build`") or {}).get("artifacts", []):
            valid[prefix + a["path"]] = a["valid"]
    return valid


def _bench(layout: RunLayout) -> BenchResult:
    bench = BenchResult.read(layout.bench)
    if bench is None:
        raise ConfigError(f"run folder '{layout.root}' has no bench.json; run `resnet-edge build` (or bench) first")
    return bench


def artifact_table(layout: RunLayout) -> tuple[list[str], list[list[str]]]:
    """(header, rows): per artifact depth, MACs, params, size, accuracy, p50 latency, speed-up vs uncompressed."""
    bench = _bench(layout)
    valid, depths = _validity(layout), _depths(layout)
    threads = [str(t) for t in bench.threads]
    header = ["artifact", "depth", "MACs (M)", "params (K)", "size (MB)", "accuracy %",
              *[f"p50 ms @{t} thr" for t in threads], *[f"speed-up @{t} thr" for t in threads],
              *([f"vs unpruned TFLite fp32 @{t} thr" for t in threads] if bench.reference else [])]  # fmt: skip
    rows = []
    for r in bench.rows:
        ratios = [r.ratio, *([r.reference_ratio] if bench.reference else [])]
        rows.append([r.name, _fmt(depths.get(r.name)), f"{r.macs / 1e6:.2f}", f"{r.params / 1e3:.1f}",
                     f"{r.bytes / 1e6:.2f}", _fmt(r.accuracy, ".2f"),
                     *[f"{r.latency[t]['p50_ms']:.3f}" for t in threads],
                     *[f"{ratio[t].speedup:.2f}x" if t in ratio else "-" for ratio in ratios for t in threads],
                     {True: "yes", False: "NO"}.get(valid.get(r.name), "-")])  # fmt: skip
    return [*header, "valid"], rows


def deploy_table(layout: RunLayout) -> tuple[str, list[str], list[list[str]]] | None:
    """(title, header, rows) of the latency-only timing at the deploy size, when the run has one."""
    deploy = _bench(layout).deploy
    if deploy is None:
        return None
    threads = [str(t) for t in deploy.threads]
    header = ["artifact", "MACs (M)", *[f"p50 ms @{t} thr" for t in threads],
              *[f"vs {deploy.baseline} @{t} thr" for t in threads]]  # fmt: skip
    rows = [[r.name, f"{r.macs / 1e6:.2f}", *[f"{r.latency[t]['p50_ms']:.3f}" for t in threads],
             *[f"{r.ratio[t].speedup:.2f}x" for t in threads]] for r in deploy.rows]  # fmt: skip
    size = deploy.input_size
    return f"At the deploy size {size}x{size} (latency only, each architecture of the run)", header, rows


def _depths(layout: RunLayout) -> dict[str, int]:
    """Depth of each artifact: the baseline's, and the pruned model's for everything exported from it."""
    if not layout.baseline_config.exists():
        return {}
    base = load_model_config(layout.baseline_model).arch.depth
    log = PruneLog.read(layout.prune_log)
    depth = log.chosen.depth if log else base
    out = {layout.rel(layout.baseline_model): base, layout.rel(layout.unpruned_tflite): base}
    if log:
        out[layout.rel(layout.pruned_model)] = depth
    for path in layout.export.glob("*.*"):
        out[layout.rel(path)] = depth
    return out


def _plot_bench(layout: RunLayout) -> None:
    bench = _bench(layout)
    t = str(bench.threads[-1])
    rows = [r for r in bench.rows if r.accuracy is not None]
    if not rows:
        return
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    markers = "osD^v<>ph*"
    for i, r in enumerate(rows):  # a legend, not labels: artifacts of equal accuracy and speed overlap
        ax.plot(r.latency[t]["p50_ms"], r.accuracy, markers[i % len(markers)], ms=8, label=r.name)
    ax.legend(fontsize=7, loc="best")
    ax.set(xlabel=f"p50 latency at batch 1, {t} threads (ms)", ylabel="validation accuracy (%)", xscale="log")
    ax.grid(alpha=0.3)
    ax.set_title("every artifact of the run, measured side by side")
    save_figure(fig, layout.bench_plot)


def _summary(layout: RunLayout) -> list[str]:
    lines = []
    metrics = read_json(layout.metrics, "`resnet-edge train` (or build)")
    log = PruneLog.read(layout.prune_log)
    if metrics:
        lines.append(f"Uncompressed model: {metrics['model']}, best validation accuracy "
                     f"{100 * metrics['best_val_accuracy']:.2f} % after {metrics['epochs']} epochs "
                     f"({metrics['train_seconds']:.0f} s on {metrics['device']}).")  # fmt: skip
    if log:
        base, chosen = log.unpruned, log.chosen
        fewer = 100 * (1 - chosen.macs / base.macs)
        lines.append(f"Depth pruning: depth {base.depth} -> {chosen.depth}, MACs {base.macs / 1e6:.2f} M -> "
                     f"{chosen.macs / 1e6:.2f} M ({fewer:.1f} % fewer), accuracy "
                     f"{base.val_accuracy:.2f} % -> {chosen.val_accuracy:.2f} %.")  # fmt: skip
    return lines


def write_report(run: str | Path) -> Path:
    """Write report.md and report.html into `run`; returns the HTML path."""
    layout = RunLayout(Path(run))
    run = layout.root
    if not run.is_dir():
        raise ConfigError(f"run folder '{run}' does not exist; give a folder written by `resnet-edge build`")
    try:
        header, rows = artifact_table(layout)
        _plot_bench(layout)
        summary = _summary(layout)
        deploy = deploy_table(layout)
    except (KeyError, TypeError, IndexError, AttributeError, StopIteration) as exc:  # valid JSON of another shape
        raise ConfigError(
            f"run folder '{run}': bench.json, manifest.json, prune.json or metrics.json is not what build writes "
            f"({type(exc).__name__} {exc!s:.60}); rerun `resnet-edge build` (or bench)"
        ) from None
    plots = [(title, path) for title, path in _plots(layout) if path.exists()]
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
    write_text(layout.report_md, "\n".join(md) + "\n")
    html_path = layout.report_html
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
