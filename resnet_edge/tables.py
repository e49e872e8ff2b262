"""Tables printed to the terminal: a model's counts, a benchmark, an export's artifacts (CLI and build share them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from resnet_edge.console import console

if TYPE_CHECKING:
    from resnet_edge.bench import Attribution, BenchResult, Ratio
    from resnet_edge.check import CheckResult
    from resnet_edge.export import ExportResult
    from resnet_edge.models.flops import ModelCount


def si(n: float, digits: int = 3, sep: str = " ") -> str:
    """1234567 -> '1.235 M' (or '1.2M' with digits=1, sep='')."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.{digits}f}{sep}{unit}"
    return f"{n:.0f}"


def _shape(shape: tuple) -> str:
    return "x".join("?" if d is None else str(d) for d in shape[1:]) or "-"


def print_count(count: ModelCount, title: str, per_block: bool) -> None:
    from resnet_edge.models.flops import MAC_NOTE

    groups = count.blocks if per_block else count.stages
    table = Table(title=title, title_justify="left")
    table.add_column("Block" if per_block else "Stage")
    if not per_block:
        table.add_column("Blocks", justify="right")
    table.add_column("Output", justify="right")
    table.add_column("Params", justify="right")
    table.add_column("MACs", justify="right")
    table.add_column("% MACs", justify="right")
    total = max(count.macs, 1)
    for g in groups:
        row = [g.name]
        if not per_block:
            row.append(str(sum(1 for b in count.blocks if b.stage == g.name)) if g.name.startswith("stage") else "")
        row += [_shape(g.output_shape), f"{g.params:,}", si(g.macs), f"{100 * g.macs / total:.1f}"]
        table.add_row(*row)
    table.add_section()
    table.add_row("total", *([str(len(count.blocks))] if not per_block else []), "", f"{count.params:,}",
                  si(count.macs), "100.0")  # fmt: skip
    console.print(table)
    console.print(
        f"trainable params {count.params:,} · non-trainable {count.non_trainable_params:,} · "
        f"MACs {count.macs:,} ({si(count.macs)}) · FLOPs {si(count.flops)} · "
        f"element-wise ops {si(count.elementwise_ops)}",
        soft_wrap=True,
    )
    console.print(
        f"[dim]{MAC_NOTE}; BatchNorm, activations, additions and pooling are element-wise ops.[/dim]", soft_wrap=True
    )
    if count.uncounted:
        console.print(f"[yellow]not counted ({len(count.uncounted)}): {', '.join(count.uncounted)}[/yellow]")


def speedup_text(ratio: Ratio) -> str:
    return f"{ratio.speedup:.2f}x [{1 / ratio.high:.2f}-{1 / ratio.low:.2f}]"


def kib_text(n: int | None) -> str:
    """65536 -> '64.0' (KiB, the unit microcontroller RAM is sold in); '-' when there is no number."""
    return "-" if n is None else f"{n / 1024:,.1f}"


def rate_text(rate: dict | None) -> str:
    """'91.20 [89.3-92.8]' from a metrics.Rate dict; '-' when there is none."""
    if not rate:
        return "-"
    return f"{rate['value']:.2f} [{rate['low']:.1f}-{rate['high']:.1f}]"


def drop_text(drop: dict | None) -> str:
    """'+0.40 [-0.3, +1.1]' from a metrics.PairedDifference dict."""
    if not drop or drop["value"] != drop["value"]:  # None, or nan (no pairs)
        return "-"
    return f"{drop['value']:+.2f} [{drop['low']:+.1f}, {drop['high']:+.1f}]"


def print_bench(result: BenchResult, title: str | None = None) -> None:
    """The before/after table: one row per artifact, the baseline first."""
    title = title or (
        "benchmark (batch 1; MACs = multiply-adds; flash = file; RAM = planned activation arena, as "
        "TFLite Micro plans it; Keras timed in a worker process at each thread count)"
    )
    table = Table(title=title, title_justify="left")
    inspection = any(r.test and r.test.get("escape") for r in result.rows)
    rates = ("escape %", "false rej. %") if inspection else ()
    columns = ("artifact", "MACs", "params", "flash MB", "RAM KiB", "test acc % [95% CI]", *rates,
               *(f"p50 ms@{t}t" for t in result.threads))  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "artifact" else "right", no_wrap=column == "artifact")
    if result.baseline:
        for t in result.threads:
            table.add_column(f"speed-up@{t}t [95% CI]", justify="right")
    if result.reference:
        for t in result.threads:
            table.add_column(f"vs {result.reference}@{t}t", justify="right")
    for r in result.rows:
        cells = [r.name + (" (baseline)" if r.name == result.baseline else ""), si(r.macs, 1, ""), si(r.params, 1, ""),
                 f"{r.bytes / 1e6:.2f}", kib_text(r.ram_bytes),
                 rate_text(r.test["accuracy"] if r.test else None)]  # fmt: skip
        if inspection:
            cells += [rate_text(r.test.get("escape") if r.test else None),
                      rate_text(r.test.get("false_reject") if r.test else None)]  # fmt: skip
        cells += [f"{r.latency[str(t)]['p50_ms']:.3f}" for t in result.threads]
        if result.baseline:
            cells += [speedup_text(r.ratio[str(t)]) for t in result.threads]
        if result.reference:
            cells += [speedup_text(r.reference_ratio[str(t)]) for t in result.threads]
        table.add_row(*cells)
    console.print(table)
    print_attribution(result)


def attribution_text(a: Attribution) -> str:
    """'runtime 3.10x [3.0-3.2] x depth 1.52x [..] x int8 2.05x [..] = 9.66x; measured 9.58x [9.4-9.8]
    (product / total 1.008 [0.99-1.02]: agree)'."""
    factors = " x ".join(f"{f.label} {speedup_text(f.ratio)}" for f in a.factors)
    check = "agree" if a.consistent else "DISAGREE"
    measured = f"measured {speedup_text(a.total)} (product / total {gap_text(a)}: {check})"
    return f"{factors} = {1 / a.product:.2f}x; {measured}"


def gap_text(a: Attribution) -> str:
    """The product of the factors over the measured total, with its paired interval ('-' in older results)."""
    if a.gap is None:
        return "-"
    return f"{a.gap.median:.3f} [{a.gap.low:.3f}-{a.gap.high:.3f}]"


def print_attribution(result: BenchResult) -> None:
    """Each speed-up chain as the product of its factors, per thread count."""
    for a in result.attribution:
        console.print(f"speed-up of {a.factors[-1].to} over {a.factors[0].source} @{a.threads}t: "
                      f"{attribution_text(a)}", soft_wrap=True)  # fmt: skip


def print_artifacts(result: ExportResult) -> None:
    title = (f"artifacts in {result.out} (Keras validation accuracy {result.keras_accuracy:.2f} %; validity is "
             f"decided on validation, test is reported)")  # fmt: skip
    table = Table(title=title, title_justify="left")
    columns = ("artifact", "flash MB", "RAM KiB", "input", "val. acc %", "drop vs Keras [95% CI]", "agree", "max|diff|",
               "test acc % [95% CI]", "valid")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "artifact" else "right", no_wrap=column == "artifact")
    for a in result.artifacts:
        valid = "yes" if a.valid else "[red]NO[/red]"
        ram = a.footprint.get("ram_bytes") if a.footprint else None
        table.add_row(a.path.name, f"{a.bytes / 1e6:.2f}", kib_text(ram), a.input["dtype"], f"{a.accuracy:.2f}",
                      drop_text(a.val_drop),
                      f"{a.agreement:.2f} %", f"{a.max_abs_diff:.4f}",
                      rate_text(a.test["accuracy"] if a.test else None), valid)  # fmt: skip
    console.print(table)
    for a in result.artifacts:
        if a.problems:
            console.print(f"[red]{a.path.name} is invalid[/red]: {'; '.join(a.problems)}", soft_wrap=True)
        if a.layer_errors:
            worst = ", ".join(_layer_error_text(e) for e in a.layer_errors[:3])
            console.print(f"{a.path.name} worst layers: {worst}", soft_wrap=True)
        if a.target_check:
            console.print(
                f"{a.path.name} on {a.target_check['target']}: {verdict_text(a.target_check)}", soft_wrap=True
            )
        if a.fallback:
            console.print(f"{a.path.name} fallback: {fallback_text(a.fallback, a.accuracy)}", soft_wrap=True)
    if result.tflm is not None:
        b = result.tflm
        console.print(f"TensorFlow Lite Micro: {b.source.name}, {b.header.name} ({b.model.name}, {b.model_bytes:,} "
                      f"bytes; {len(b.ops)} operators: {', '.join(b.ops)}; arena {b.arena_bytes:,} bytes for "
                      f"{b.activation_bytes:,} planned activations)", soft_wrap=True)  # fmt: skip
    console.print(f"manifest: {result.manifest_path}")


def fallback_text(fallback: dict, accuracy: float) -> str:
    """'kept stage1_block1_conv1, stage1_block1_conv2 in float: val. acc 10.10 -> 98.95 %, p50@1t 0.21 -> 0.26 ms
    (1.24x [1.20-1.28])', or what was tried when nothing validated."""
    tried = ", ".join(step["layer"] for step in fallback["steps"]) or "no layer left to try"
    before = fallback["before"]["accuracy"]
    if not fallback["recovered"]:
        last = fallback["steps"][-1]["accuracy"] if fallback["steps"] else before
        return (f"no valid artifact with {tried} in float (val. acc {before:.2f} -> {last:.2f} %); "
                "the plain int8 model is kept")  # fmt: skip
    cost = fallback["latency"]
    ratio = cost["ratio"]
    return (f"kept {tried} in float: val. acc {before:.2f} -> {accuracy:.2f} %, p50@{cost['threads']}t "
            f"{cost['int8_p50_ms']:.3f} -> {cost['fallback_p50_ms']:.3f} ms "
            f"({ratio['median']:.2f}x [{ratio['low']:.2f}-{ratio['high']:.2f}] of int8's time)")  # fmt: skip


def _layer_error_text(error: dict) -> str:
    if "sqnr_db" in error:
        return f"{error['layer']} ({error['sqnr_db']:.1f} dB SQNR)"
    value = error["rmse_per_scale"]
    return f"{error['layer']} ({value:.2f} steps RMSE)" if value is not None else f"{error['layer']}"


def verdict_text(check: dict) -> str:
    """'ready: all 19 ops on the accelerator' / 'falls back to the CPU: ...' from a CheckResult dict."""
    ops, accelerated, first = check["ops"], check["accelerated"], check["first_cpu_op"]
    if check["ready"]:
        return f"ready: all {ops} ops run on the accelerator" if check["source"] else f"loads: {ops} builtin ops"
    cpu = [f for f in check["findings"] if f["level"] == "cpu"]
    if first is not None:
        return (f"FALLS BACK TO THE CPU from op {first} ({cpu[0]['op']}): the accelerator runs {accelerated} of "
                f"{ops} ops")  # fmt: skip
    return (
        f"FALLS BACK TO THE CPU: {len(cpu)} of {ops} ops run on the CPU ({', '.join(sorted({f['op'] for f in cpu}))})"
    )


def print_check(result: CheckResult) -> None:
    """Every op the target cannot run (or might not), why, and the verdict; the rules' source under the table."""
    d = result.to_dict()
    runtime = f", runtime {result.edgetpu_runtime}" if result.edgetpu_runtime else ""
    title = (f"{result.path.name} on {result.target.value} ({result.rules}{runtime}): input {_io(d['input'])}, "
             f"output {_io(d['output'])}, {result.ops} ops")  # fmt: skip
    table = Table(title=title, title_justify="left")
    for column in ("#", "op", "v", "runs on", "why"):
        table.add_column(column, justify="right" if column in ("#", "v") else "left", no_wrap=column != "why")
    for f in result.findings:
        where = "CPU" if f.level.value == "cpu" else "accelerator (warning)"
        table.add_row(str(f.index), f.op, str(f.version), where, "; ".join(f.reasons))
    first = result.first_cpu_op
    listed = {f.index for f in result.findings if f.level.value == "cpu"}
    after = [i for i in range(first + 1, result.ops) if i not in listed] if first is not None else []
    if after:  # ops the Edge TPU could run but will not: they come after the first it cannot
        table.add_row(f"{after[0]}-{after[-1]}", f"{len(after)} more", "", "CPU",
                      f"supported, but after op {first}: the compiler maps one segment")  # fmt: skip
    if result.findings:
        console.print(table)
    else:
        console.print(title, soft_wrap=True)
    counts = ", ".join(f"{name} {n}" for name, n in sorted(result.op_counts.items()))
    console.print(f"ops: {counts}", soft_wrap=True)
    if result.source:
        console.print(f"rules: {result.source}", soft_wrap=True)
        if not result.ready:
            console.print(f"[dim]{result.fallback}[/dim]", soft_wrap=True)
    console.print(f"{'[green]' if result.ready else '[red]'}{verdict_text(d)}[/]", soft_wrap=True)


def _io(spec: dict) -> str:
    return f"{spec['dtype']} {'x'.join(map(str, spec['shape']))}"
