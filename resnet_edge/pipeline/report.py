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

import numpy as np

from resnet_edge.bench import BenchResult
from resnet_edge.errors import ConfigError
from resnet_edge.fsutil import read_json, write_text
from resnet_edge.metrics import ClassReport
from resnet_edge.models.io import load_model_config
from resnet_edge.pipeline.layout import RunLayout
from resnet_edge.plotting import pyplot, save_figure
from resnet_edge.prune import PruneLog
from resnet_edge.tables import drop_text, gap_text, kib_text, rate_text, speedup_text


def _plots(layout: RunLayout) -> list[tuple[str, Path]]:
    return [("Training curves (uncompressed model)", layout.baseline / "curves.png"),
            ("Block scores (residual energy and ablation)", layout.pruned / "block_scores.png"),
            ("Depth pruning: accuracy against latency and MACs", layout.pruned / "pareto.png"),
            ("Artifacts: accuracy against latency", layout.bench_plot),
            ("Confusion matrices (test split)", layout.confusion_plot)]  # fmt: skip


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
    """(header, rows): per artifact depth, MACs, params, flash, peak RAM, accuracy, p50 latency, speed-up vs
    uncompressed."""
    bench = _bench(layout)
    valid, depths = _validity(layout), _depths(layout)
    threads = [str(t) for t in bench.threads]
    header = ["artifact", "depth", "MACs (M)", "params (K)", "flash (MB)", "peak RAM (KiB)",
              "test accuracy % [95 % CI]",
              *[f"p50 ms @{t} thr" for t in threads], *[f"speed-up @{t} thr" for t in threads],
              *([f"vs unpruned TFLite fp32 @{t} thr" for t in threads] if bench.reference else [])]  # fmt: skip
    rows = []
    for r in bench.rows:
        ratios = [r.ratio, *([r.reference_ratio] if bench.reference else [])]
        rows.append([r.name, _fmt(depths.get(r.name)), f"{r.macs / 1e6:.2f}", f"{r.params / 1e3:.1f}",
                     f"{r.bytes / 1e6:.2f}", kib_text(r.ram_bytes), rate_text(r.test["accuracy"] if r.test else None),
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


def attribution_table(layout: RunLayout) -> Table | None:
    """Per runtime and thread count, the int8 artifact's speed-up over Keras as runtime x depth x int8."""
    chains = _bench(layout).attribution
    if not chains:
        return None
    labels = list(dict.fromkeys(f.label for a in chains for f in a.factors))
    header = ["speed-up of", "threads", *[f"{label} [95 % CI]" for label in labels], "product",
              "measured total [95 % CI]", "product / total [95 % CI]", "agree"]  # fmt: skip
    rows = []
    for a in chains:
        by_label = {f.label: f.ratio for f in a.factors}
        factors = [speedup_text(by_label[x]) if x in by_label else "1 (none)" for x in labels]
        rows.append([a.factors[-1].to, a.threads, *factors, f"{1 / a.product:.2f}x", speedup_text(a.total),
                     gap_text(a), "yes" if a.consistent else "NO"])  # fmt: skip
    title = ("Where the speed-up comes from: runtime (Keras -> unpruned fp32 artifact), depth (unpruned -> pruned, "
             "fp32), int8 (pruned fp32 -> int8), each measured in the same interleaved run")  # fmt: skip
    return title, header, rows


def _depths(layout: RunLayout) -> dict[str, int]:
    """Depth of each artifact: the baseline's, and the pruned model's for everything exported from it."""
    if not layout.baseline_config.exists():
        return {}
    base = load_model_config(layout.baseline_model).arch.depth
    log = PruneLog.read(layout.prune_log)
    depth = log.chosen.depth if log else base
    out = {layout.rel(layout.baseline_model): base, layout.rel(layout.unpruned_tflite): base,
           layout.rel(layout.unpruned_onnx): base}  # fmt: skip
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
        acc = r.test["accuracy"] if r.test else None
        yerr = [[r.accuracy - acc["low"]], [acc["high"] - r.accuracy]] if acc else None
        ax.errorbar(r.latency[t]["p50_ms"], r.accuracy, yerr=yerr, fmt=markers[i % len(markers)], ms=8, capsize=3,
                    label=r.name)  # fmt: skip
    ax.legend(fontsize=7, loc="best")
    ax.set(xlabel=f"p50 latency at batch 1, {t} threads (ms)", ylabel="test accuracy (%), 95 % interval", xscale="log")
    ax.grid(alpha=0.3)
    ax.set_title("every artifact of the run, measured side by side")
    save_figure(fig, layout.bench_plot)


def _summary(layout: RunLayout) -> list[str]:
    lines = []
    metrics = read_json(layout.metrics, "`resnet-edge train` (or build)")
    log = PruneLog.read(layout.prune_log)
    if metrics:
        test = f", test {rate_text(metrics['test']['accuracy'])} %" if metrics.get("test") else ""
        lines.append(f"Uncompressed model: {metrics['model']}, best validation accuracy "
                     f"{100 * metrics['best_val_accuracy']:.2f} % after {metrics['epochs']} epochs{test} "
                     f"({metrics['train_seconds']:.0f} s on {metrics['device']}).")  # fmt: skip
    if log:
        base, chosen = log.unpruned, log.chosen
        fewer = 100 * (1 - chosen.macs / base.macs)
        drops = ""
        if chosen.val_drop and chosen.test_drop:
            drops = (f"; accuracy drop on validation (decided on) {drop_text(chosen.val_drop)}, on test "
                     f"{drop_text(chosen.test_drop)} points (paired 95 % intervals)")  # fmt: skip
        took = f" The search took {log.seconds['total']:.0f} s." if log.seconds else ""
        lines.append(f"Depth pruning: depth {base.depth} -> {chosen.depth}, MACs {base.macs / 1e6:.2f} M -> "
                     f"{chosen.macs / 1e6:.2f} M ({fewer:.1f} % fewer), validation accuracy "
                     f"{base.val_accuracy:.2f} % -> {chosen.val_accuracy:.2f} %{drops}.{took}")  # fmt: skip
        if log.latency and log.latency.get("outcome"):
            lines.append(log.latency["outcome"][0].upper() + log.latency["outcome"][1:] + ".")
        if log.warning:
            lines.append(f"Warning: {log.warning}.")
    return lines


Table = tuple[str, list[str], list[list[str]]]  # (title, header, rows)
NOTE = ("Accuracy is on the test split (never used to decide anything), with n and its Wilson 95 % interval; "
        "every decision (best epoch, pruning steps, artifact validity) was made on the validation split. MACs count "
        "one multiply-add as 1 (FLOPs = 2 x MACs). Flash is the file; peak RAM the activation arena at batch 1 as "
        "TensorFlow Lite Micro's greedy planner lays it out (runtimes add their own bookkeeping). Latency at batch 1, "
        "all artifacts measured interleaved in one "
        "run; speed-up is against the uncompressed Keras model (median of per-round ratios), and against the "
        "unpruned model as TFLite fp32 (same runtime: what depth and int8 gained); the speed-up table splits each "
        "int8 artifact's speed-up over Keras into runtime x depth x int8.")  # fmt: skip


def inspection_tables(layout: RunLayout) -> list[Table]:
    """With a pass class: escape and false-reject rates per artifact, then recall per class (test split)."""
    rows = [r for r in _bench(layout).rows if r.test]
    if not rows:
        return []
    first = ClassReport.from_dict(rows[0].test)
    tables = []
    if first.good_class is not None:
        header = ["artifact", "escape % (defect passed as good)", "false reject % (good scrapped)", "test accuracy %"]
        body = [[r.name, rate_text(r.test["escape"]), rate_text(r.test["false_reject"]),
                 rate_text(r.test["accuracy"])] for r in rows]  # fmt: skip
        title = f"Inspection: escapes and false rejects against the pass class '{first.good_class}' (test split)"
        tables.append((title, header, body))
    header = ["artifact", *[f"recall {c} %" for c in first.class_names]]
    body = [[r.name, *[rate_text(rate) for rate in r.test["recall"]]] for r in rows]
    tables.append(("Recall per class (test split, 95 % intervals)", header, body))
    return tables


def _plot_confusion(layout: RunLayout) -> None:
    """One confusion matrix per artifact (test split), in one figure."""
    rows = [r for r in _bench(layout).rows if r.test]
    if not rows:
        return
    plt = pyplot()
    cols = min(3, len(rows))
    fig, axes = plt.subplots(-(-len(rows) // cols), cols, figsize=(4.2 * cols, 3.8 * -(-len(rows) // cols)),
                             squeeze=False)  # fmt: skip
    for ax, r in zip(axes.flat, rows, strict=False):
        report = ClassReport.from_dict(r.test)
        matrix = np.asarray(report.confusion)
        ax.imshow(matrix, cmap="Blues")
        for (i, j), v in np.ndenumerate(matrix):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7, color="white" if v > matrix.max() / 2 else "k")
        ticks = range(len(report.class_names))
        ax.set_xticks(ticks, report.class_names, rotation=45, fontsize=7)
        ax.set_yticks(ticks, report.class_names, fontsize=7)
        ax.set(xlabel="predicted", ylabel="true", title=r.name)
        ax.title.set_fontsize(8)
    for ax in list(axes.flat)[len(rows) :]:
        ax.axis("off")
    fig.suptitle("confusion matrices on the test split")
    save_figure(fig, layout.confusion_plot)


def _md_table(title: str, header: list[str], rows: list[list[str]]) -> list[str]:
    return ["", f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(r) + " |" for r in rows]]  # fmt: skip


def write_report(run: str | Path) -> Path:
    """Write report.md and report.html into `run`; returns the HTML path."""
    layout = RunLayout(Path(run))
    run = layout.root
    if not run.is_dir():
        raise ConfigError(f"run folder '{run}' does not exist; give a folder written by `resnet-edge build`")
    try:
        header, rows = artifact_table(layout)
        tables = [*inspection_tables(layout), ("Artifacts", header, rows)]
        attribution = attribution_table(layout)
        tables += [attribution] if attribution else []
        deploy = deploy_table(layout)
        tables += [deploy] if deploy else []
        _plot_bench(layout)
        _plot_confusion(layout)
        summary = _summary(layout)
    except (KeyError, TypeError, IndexError, AttributeError, StopIteration) as exc:  # valid JSON of another shape
        raise ConfigError(
            f"run folder '{run}': bench.json, manifest.json, prune.json or metrics.json is not what build writes "
            f"({type(exc).__name__} {exc!s:.60}); rerun `resnet-edge build` (or bench)"
        ) from None
    plots = [(title, path) for title, path in _plots(layout) if path.exists()]
    md = [f"# resnet-edge report: {run.name}", "", *summary, "", NOTE]
    for table in tables:
        md += _md_table(*table)
    for title, path in plots:
        md += ["", f"## {title}", "", f"![{title}]({path.relative_to(run)})"]
    write_text(layout.report_md, "\n".join(md) + "\n")
    write_text(layout.report_html, _html(run.name, summary, tables, plots))
    return layout.report_html


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _html(name: str, summary: list[str], tables: list[Table], plots: list[tuple[str, Path]]) -> str:
    def image(path: Path) -> str:
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()

    body = "".join(f"<h2>{html.escape(t)}</h2>{_html_table(h, r)}" for t, h, r in tables)
    figures = "".join(f"<h2>{html.escape(t)}</h2><img alt='{html.escape(t)}' src='{image(p)}'>" for t, p in plots)
    paragraphs = "".join(f"<p>{html.escape(s)}</p>" for s in summary)
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;"
             "text-align:right}td:first-child,th:first-child{text-align:left}img{max-width:100%}")  # fmt: skip
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>resnet-edge report: {html.escape(name)}"
            f"</title><style>{style}</style></head><body><h1>resnet-edge report: {html.escape(name)}</h1>"
            f"{paragraphs}<p>{html.escape(NOTE)}</p>{body}{figures}</body></html>\n")  # fmt: skip
