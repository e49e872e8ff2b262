"""The `resnet-edge` command: parse, call a verb, print. User errors become one line and exit code 2."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

# Typer >= 0.20 vendors Click; its exceptions are what `standalone_mode=False` lets through (typer is pinned).
from typer._click import exceptions as click_exc

from resnet_edge.config import PruneConfig, Recipe, Shortcut, Strategy, TrainConfig, Variant, Version
from resnet_edge.console import console, err_console, set_quiet
from resnet_edge.errors import ConfigError, ResnetEdgeError

if TYPE_CHECKING:
    from resnet_edge.models.flops import ModelCount

app = typer.Typer(
    name="resnet-edge",
    help="Turn a ResNet into a small, fast, verified model for edge devices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _writable_parent(path: Path, option: str) -> None:
    """The nearest existing folder above `path` must be a folder we may write into."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{option} '{path}': '{parent}' is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} '{path}': folder '{parent}' is not writable")


def _out_dir(value: Path | None) -> Path | None:
    """--out folders are checked before any work, so a bad one costs nothing and overwrites nothing."""
    if value is not None:
        if value.exists() and not value.is_dir():
            raise ConfigError(f"--out '{value}' is an existing file; give a folder (new or one this command wrote)")
        _writable_parent(value / "x", "--out")
    return value


def _out_file(value: Path | None) -> Path | None:
    if value is not None:
        if value.is_dir():
            raise ConfigError(f"output file '{value}' is an existing folder; give a file path")
        _writable_parent(value, "output file")
    return value


@app.callback()
def _root(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    trust_model: Annotated[
        bool,
        typer.Option("--trust-model", help="Allow models with Lambda layers, whose embedded Python runs on load."),
    ] = False,
) -> None:
    from resnet_edge.models.io import trust_models

    set_quiet(quiet)
    trust_models(trust_model)


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3f} {unit}"
    return f"{n:.0f}"


def _shape(shape: tuple) -> str:
    return "x".join("?" if d is None else str(d) for d in shape[1:]) or "-"


def _print_count(count: ModelCount, title: str, per_block: bool) -> None:
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
        row += [_shape(g.output_shape), f"{g.params:,}", _si(g.macs), f"{100 * g.macs / total:.1f}"]
        table.add_row(*row)
    table.add_section()
    table.add_row("total", *([str(len(count.blocks))] if not per_block else []), "", f"{count.params:,}",
                  _si(count.macs), "100.0")  # fmt: skip
    console.print(table)
    console.print(
        f"trainable params {count.params:,} · non-trainable {count.non_trainable_params:,} · "
        f"MACs {count.macs:,} ({_si(count.macs)}) · FLOPs {_si(count.flops)} · "
        f"element-wise ops {_si(count.elementwise_ops)}",
        soft_wrap=True,
    )
    console.print(
        f"[dim]{MAC_NOTE}; BatchNorm, activations, additions and pooling are element-wise ops.[/dim]", soft_wrap=True
    )
    if count.uncounted:
        console.print(f"[yellow]not counted ({len(count.uncounted)}): {', '.join(count.uncounted)}[/yellow]")


# Model options, shared by every command that builds a model.
DepthOpt = Annotated[int | None, typer.Option(help="Depth: 18, 34, 50, 101, 152 (ImageNet), 6n+2 / 9n+2 (CIFAR).")]
VariantOpt = Annotated[Variant | None, typer.Option(case_sensitive=False, help="Default: imagenet for 18-152.")]
VersionOpt = Annotated[Version | None, typer.Option(case_sensitive=False, help="imagenet: v1|v1.5; cifar: v1|v2.")]
ShortcutOpt = Annotated[Shortcut | None, typer.Option(case_sensitive=False, help="A zero-pad, B projection.")]
PlainOpt = Annotated[bool, typer.Option("--plain", help="The twin without skip connections.")]
SizeOpt = Annotated[int | None, typer.Option(help="Input height = width (>= 32); default 224 ImageNet, 32 CIFAR.")]
ChannelsOpt = Annotated[int, typer.Option(help="1 (grayscale) or 3 (RGB).")]


@app.command()
def info(
    depth: DepthOpt = None,
    variant: VariantOpt = None,
    version: VersionOpt = None,
    shortcut: ShortcutOpt = None,
    plain: PlainOpt = False,
    input_size: SizeOpt = None,
    classes: Annotated[int | None, typer.Option(help="Number of classes.")] = None,
    channels: ChannelsOpt = 3,
    model: Annotated[Path | None, typer.Option(help="A saved .keras, .h5 or .onnx model instead of --depth.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    per_block: Annotated[bool, typer.Option("--blocks", help="One row per residual block.")] = False,
) -> None:
    """Parameters and MACs per stage (or block) of a ResNet from the zoo or of a saved model."""
    from resnet_edge.models import flops

    if (depth is None) == (model is None):
        raise ConfigError(f"give exactly one of --depth or --model (received depth={depth}, model={model})")
    config = None
    if model is not None:
        count = flops.count_file(model)
        title = f"{model} ({count.name})"
    else:
        from resnet_edge.config import ModelConfig
        from resnet_edge.models.resnet import build_resnet

        config = ModelConfig(depth=depth, variant=variant, version=version, shortcut=shortcut, plain=plain,
                             input_size=input_size, classes=classes, channels=channels)  # fmt: skip
        count = flops.count_keras(build_resnet(config))
        title = f"{config.name}: {config.variant.value} {config.version.value}, shortcut {config.shortcut.value}"
    if as_json:
        payload = {**count.to_dict(), **({"config": config.to_dict()} if config else {})}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        _print_count(count, title, per_block)


DataOpt = Annotated[str, typer.Option("--data", help="inspection (built-in), folder:DIR or cifar10:PATH.")]
ValDataOpt = Annotated[str | None, typer.Option("--val-data", help="An explicit validation set (same schemes).")]
ValSplitOpt = Annotated[float, typer.Option(help="Validation fraction when no --val-data (stratified, seeded).")]
PerClassOpt = Annotated[int, typer.Option(help="Images per class of the built-in inspection set.")]
TrainedSeedOpt = Annotated[int, typer.Option(help="The data seed the model was trained with (the same split).")]


WeightsOpt = Annotated[
    str | None,
    typer.Option(
        help="keras.applications ResNet50/101/152 ImageNet weights (.h5) to fine-tune from; never downloaded."
    ),
]
StreamOpt = Annotated[
    bool | None,
    typer.Option("--stream/--no-stream", help="Folders: decode training images from disk (default: when large)."),
]
MinAccuracyOpt = Annotated[
    float | None, typer.Option(help="Fail (exit 1) below this validation accuracy in %; default: near chance.")
]


@app.command()
def train(
    out: Annotated[
        Path, typer.Option(callback=_out_dir, help="Run folder: model.keras, history.csv, curves.png, metrics.json.")
    ],
    depth: DepthOpt = 20,
    variant: VariantOpt = None,
    version: VersionOpt = None,
    shortcut: ShortcutOpt = None,
    plain: PlainOpt = False,
    input_size: SizeOpt = None,
    channels: ChannelsOpt = 3,
    data: DataOpt = "inspection",
    val_data: ValDataOpt = None,
    val_split: ValSplitOpt = 0.2,
    per_class: PerClassOpt = 1000,
    recipe: Annotated[
        Recipe, typer.Option(case_sensitive=False, help="Training recipe (auto: the one measured for the depth).")
    ] = TrainConfig.recipe,
    epochs: Annotated[int, typer.Option(help="Epochs.")] = TrainConfig.epochs,
    batch_size: Annotated[int, typer.Option(help="Global batch size.")] = 128,
    lr: Annotated[
        float | None, typer.Option(help="Peak learning rate; default: the recipe's, scaled to the batch.")
    ] = None,
    weight_decay: Annotated[float | None, typer.Option(help="Default: the recipe's.")] = None,
    seed: Annotated[int, typer.Option(help="Seeds weights, data order and augmentation.")] = 0,
    augment: Annotated[bool, typer.Option("--augment/--no-augment", help="Flips and pad-and-crop.")] = True,
    mixed_precision: Annotated[
        bool | None, typer.Option("--mixed-precision/--no-mixed-precision", help="Default: on with a GPU.")
    ] = None,
    xla: Annotated[bool | None, typer.Option("--xla/--no-xla", help="Default: on with a GPU.")] = None,
    strategy: Annotated[Strategy, typer.Option(case_sensitive=False, help="Devices to train on.")] = Strategy.DEFAULT,
    deterministic: Annotated[bool, typer.Option("--deterministic", help="TensorFlow op determinism.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the interrupted run in --out.")] = False,
    weights: WeightsOpt = None,
    min_accuracy: MinAccuracyOpt = None,
    stream: StreamOpt = None,
    stream_cache: Annotated[
        str | None, typer.Option(help="With --stream: keep decoded images in this cache file (tf.data).")
    ] = None,
) -> None:
    """Train a ResNet: the uncompressed model that later stages compress and compare against. Exits 1 when the
    model ends near chance."""
    from resnet_edge.config import DataConfig, ModelConfig, TrainConfig
    from resnet_edge.data import load_data
    from resnet_edge.train import train as train_model

    if weights is not None and version is None:
        version = Version.V1  # keras.applications' ImageNet weights are v1 (stride on the first 1x1)
    probe = ModelConfig(depth=depth, variant=variant, version=version, shortcut=shortcut, plain=plain,
                        input_size=input_size, channels=channels)  # fmt: skip
    train_config = TrainConfig(recipe=recipe, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                               seed=seed, augment=augment, mixed_precision=mixed_precision, xla=xla,
                               strategy=strategy, deterministic=deterministic, weights=weights,
                               min_accuracy=min_accuracy)  # fmt: skip
    dataset = load_data(DataConfig(source=data, val_source=val_data, val_split=val_split, per_class=per_class,
                                   seed=seed, stream=stream, stream_cache=stream_cache), size=probe.input_size,
                        channels=channels)  # fmt: skip
    for line in dataset.skipped:
        err_console.print(f"warning: skipped {line}", markup=False, soft_wrap=True)
    console.print(dataset.summary(), markup=False, soft_wrap=True)
    result = train_model(replace(probe, classes=dataset.num_classes), dataset, train_config, out=out, resume=resume)
    console.print(
        f"best validation accuracy {result.best_val_accuracy:.4f} at epoch {result.best_epoch}/{result.epochs} · "
        f"{result.images_per_second:.0f} images/s · {result.model_path}"
    )


@app.command()
def degradation(
    out: Annotated[Path, typer.Option(callback=_out_dir, help="Study folder: one run per model, degradation.png.")],
    depths: Annotated[str, typer.Option(help="Comma-separated CIFAR depths (6n+2).")] = "20,56",
    data: DataOpt = "inspection",
    val_data: ValDataOpt = None,
    per_class: PerClassOpt = 1000,
    input_size: Annotated[int, typer.Option(help="Input height = width.")] = 32,
    channels: ChannelsOpt = 3,
    recipe: Annotated[Recipe, typer.Option(case_sensitive=False, help="Training recipe.")] = Recipe.SGD_STEP,
    epochs: Annotated[int, typer.Option(help="Epochs for every model.")] = 30,
    batch_size: Annotated[int, typer.Option(help="Global batch size.")] = 128,
    seed: Annotated[int, typer.Option(help="The same seed for every model.")] = 0,
) -> None:
    """Plain vs ResNet at two depths, trained alike: the degradation problem in one figure."""
    from resnet_edge.config import DataConfig, TrainConfig
    from resnet_edge.data import load_data
    from resnet_edge.degradation import degradation as run_study

    try:
        depth_list = tuple(int(d) for d in depths.split(","))
    except ValueError:
        raise ConfigError(f"depths {depths!r} are not accepted; use comma-separated integers such as 20,56") from None
    train_config = TrainConfig(recipe=recipe, epochs=epochs, batch_size=batch_size, seed=seed)
    dataset = load_data(DataConfig(source=data, val_source=val_data, per_class=per_class, seed=seed),
                        size=input_size, channels=channels)  # fmt: skip
    result = run_study(dataset, depths=depth_list, config=train_config, out=out)
    for name, run in result.runs.items():
        console.print(f"{name:>10}: best validation accuracy {run.best_val_accuracy:.4f}")
    console.print(f"figure: {result.figure}")


@app.command()
def prune(
    model: Annotated[
        Path, typer.Option(help="A model.keras written by `resnet-edge train` (model_config.json beside).")
    ],
    out: Annotated[
        Path, typer.Option(callback=_out_dir, help="Folder for the pruned model, block_scores, prune.json, pareto.png.")
    ],
    threshold: Annotated[
        float | None, typer.Option(help="Remove blocks whose residual ratio is below R (0-1).")
    ] = None,
    target_macs: Annotated[float | None, typer.Option(help="Keep at most this fraction F of the MACs (0-1].")] = None,
    max_accuracy_drop: Annotated[
        float | None, typer.Option(help="Remove blocks step by step while accuracy stays within P points.")
    ] = None,
    data: DataOpt = "inspection",
    val_data: ValDataOpt = None,
    per_class: PerClassOpt = 1000,
    seed: TrainedSeedOpt = 0,
    step_blocks: Annotated[int, typer.Option(help="Blocks removed per step (max-accuracy-drop mode).")] = 1,
    step_epochs: Annotated[int, typer.Option(help="Fine-tune epochs after each step.")] = 1,
    patience: Annotated[int, typer.Option(help="Rejected steps in a row that end the search.")] = 3,
    finetune_epochs: Annotated[int, typer.Option(help="Fine-tune epochs after a one-shot removal.")] = 2,
    finetune_lr: Annotated[
        float, typer.Option(help="Peak learning rate of the fine-tuning.")
    ] = PruneConfig.finetune_lr,
    calibration_batches: Annotated[int, typer.Option(help="Training batches (of 64) for the residual ratios.")] = 4,
    distill: Annotated[
        bool, typer.Option("--distill", help="Fine-tune with distillation from the unpruned model.")
    ] = False,
    sparsify_epochs: Annotated[
        int, typer.Option(help="First train this many epochs with L1-penalised residual scales (0: off).")
    ] = 0,
    sparsify_l1: Annotated[float, typer.Option(help="L1 penalty on each residual scale.")] = 0.05,
    prune_downsample: Annotated[
        bool, typer.Option("--prune-downsample", help="Down-sampling blocks may be reduced to their shortcut.")
    ] = False,
) -> None:
    """Remove residual blocks that contribute least into a genuinely shallower model, then fine-tune."""
    from resnet_edge.config import DataConfig, PruneConfig
    from resnet_edge.data import load_data
    from resnet_edge.models.flops import count_keras
    from resnet_edge.models.io import load_keras
    from resnet_edge.prune import load_model_config, residual_blocks
    from resnet_edge.prune import prune as prune_model

    config = PruneConfig(threshold=threshold, target_macs=target_macs, max_accuracy_drop=max_accuracy_drop,
                         step_blocks=step_blocks, patience=patience, step_epochs=step_epochs,
                         finetune_epochs=finetune_epochs,
                         finetune_lr=finetune_lr, calibration_batches=calibration_batches, seed=seed,
                         distill=distill, prune_downsample=prune_downsample, sparsify_epochs=sparsify_epochs,
                         sparsify_l1=sparsify_l1)  # fmt: skip
    if out.resolve() == model.resolve().parent:
        raise ConfigError(f"--out '{out}' is the unpruned model's folder; choose another so nothing is overwritten")
    keras_model = load_keras(model)
    residual_blocks(keras_model)  # fail fast, before loading any data, on a model without residual blocks
    model_config = load_model_config(model)
    dataset = load_data(DataConfig(source=data, val_source=val_data, per_class=per_class, seed=seed),
                        size=model_config.input_size, channels=model_config.channels)  # fmt: skip
    result = prune_model(keras_model, model_config, dataset, config, out=out)
    before = count_keras(keras_model)
    console.print(
        f"depth {model_config.arch.depth} -> {result.model_config.arch.depth} · MACs {before.macs / 1e6:.2f} M -> "
        f"{result.final_macs / 1e6:.2f} M ({100 * (1 - result.final_macs / before.macs):.1f} % fewer) · accuracy "
        f"{result.base_accuracy:.2f} % -> {result.final_accuracy:.2f} % · removed {len(result.removed)} blocks"
    )
    console.print(f"pruned model: {result.model_path}")


@app.command()
def export(
    model: Annotated[Path, typer.Option(help="A Keras model (.keras/.h5) written by `train` or `prune`.")],
    out: Annotated[
        Path, typer.Option(callback=_out_dir, help="Folder for the artifacts, labels.txt and manifest.json.")
    ],
    formats: Annotated[str, typer.Option("--format", help="Comma-separated: tflite, onnx.")] = "tflite,onnx",
    modes: Annotated[
        str, typer.Option("--mode", help="Comma-separated: fp32, fp16, dynamic, int8, qat.")
    ] = "fp32,fp16,dynamic,int8",
    opset: Annotated[int, typer.Option(help="ONNX opset, 13-18.")] = 17,
    io_type: Annotated[str, typer.Option(help="Full-integer TFLite input/output: int8, uint8, float32.")] = "int8",
    per_tensor: Annotated[bool, typer.Option("--per-tensor", help="Per-tensor weights (default per-channel).")] = False,
    representative: Annotated[int, typer.Option(help="Training images for int8 calibration.")] = 200,
    calibration: Annotated[str, typer.Option(help="ONNX static calibration: minmax, entropy, percentile.")] = "minmax",
    activation: Annotated[str, typer.Option(help="ONNX int8 activation type: uint8 (x86) or int8.")] = "uint8",
    qat_epochs: Annotated[int, typer.Option(help="Quantization-aware fine-tuning epochs (mode qat).")] = 2,
    qat_lr: Annotated[float, typer.Option(help="Peak learning rate of QAT.")] = 1e-3,
    weight_sparsity: Annotated[
        float | None, typer.Option(help="Magnitude-prune weights to this sparsity before QAT (0-1).")
    ] = None,
    data: DataOpt = "inspection",
    val_data: ValDataOpt = None,
    per_class: PerClassOpt = 1000,
    seed: TrainedSeedOpt = 0,
    float_agreement: Annotated[float, typer.Option(help="% top-1 agreement fp32/fp16 must reach.")] = 99.5,
    int8_agreement: Annotated[float, typer.Option(help="% top-1 agreement dynamic/int8/qat must reach.")] = 97.0,
    max_accuracy_drop: Annotated[float, typer.Option(help="Points of accuracy an integer model may lose.")] = 1.0,
    layer_report: Annotated[
        bool, typer.Option("--layer-report/--no-layer-report", help="Per-layer error of int8 artifacts.")
    ] = True,
    allow_invalid: Annotated[
        bool, typer.Option("--allow-invalid", help="Exit 0 even when an artifact fails validation.")
    ] = False,
) -> int:
    """Quantize and export to TFLite and ONNX; every artifact is validated against the Keras model."""
    from resnet_edge.config import DataConfig, ExportConfig, QuantizeConfig
    from resnet_edge.data import load_data
    from resnet_edge.export import export as export_model
    from resnet_edge.models.io import load_keras

    config = ExportConfig(formats=formats, modes=modes, opset=opset, float_agreement=float_agreement,
                          int8_agreement=int8_agreement, int8_max_drop=max_accuracy_drop,
                          layer_report=layer_report)  # fmt: skip
    quantize = QuantizeConfig(representative_count=representative, per_channel=not per_tensor, io_type=io_type,
                              calibration=calibration, activation_type=activation, qat_epochs=qat_epochs,
                              qat_lr=qat_lr, weight_sparsity=weight_sparsity, seed=seed)  # fmt: skip
    if representative < 1 and any(m in config.modes for m in ("int8", "qat")):
        raise ConfigError(f"--representative {representative}: int8 and qat need calibration data (>= 1 image)")
    keras_model = load_keras(model)
    model_config = _model_config_beside(model)
    height, channels = _image_classifier_input(keras_model, model)
    dataset = load_data(DataConfig(source=data, val_source=val_data, per_class=per_class, seed=seed),
                        size=height, channels=channels)  # fmt: skip
    result = export_model(keras_model, data=dataset, config=config, quantize=quantize, out=out,
                          model_config=model_config)  # fmt: skip
    _print_artifacts(result)
    if result.invalid and not allow_invalid:
        err_console.print(f"resnet-edge: {len(result.invalid)} artifact(s) failed validation (kept, marked invalid "
                          f"in the manifest): {', '.join(result.invalid)}", markup=False, soft_wrap=True)  # fmt: skip
        return 1
    return 0


def _model_config_beside(model: Path):
    from resnet_edge.prune import load_model_config

    if not (model.parent / "model_config.json").exists():
        return None  # a model from elsewhere: export works from its input shape alone
    return load_model_config(model)  # one written by train or prune: it must read back


def _print_artifacts(result) -> None:
    title = f"artifacts in {result.out} (Keras accuracy {result.keras_accuracy:.2f} %)"
    table = Table(title=title, title_justify="left")
    for column in ("artifact", "MB", "input", "accuracy", "agree", "max|diff|", "valid"):
        table.add_column(column, justify="left" if column == "artifact" else "right", no_wrap=column == "artifact")
    for a in result.artifacts:
        valid = "yes" if a.valid else "[red]NO[/red]"
        table.add_row(a.path.name, f"{a.bytes / 1e6:.2f}", a.input["dtype"], f"{a.accuracy:.2f} %",
                      f"{a.agreement:.2f} %", f"{a.max_abs_diff:.4f}", valid)  # fmt: skip
    console.print(table)
    for a in result.artifacts:
        if a.problems:
            console.print(f"[red]{a.path.name} is invalid[/red]: {'; '.join(a.problems)}", soft_wrap=True)
        if a.layer_errors:
            worst = ", ".join(_layer_error_text(e) for e in a.layer_errors[:3])
            console.print(f"{a.path.name} worst layers: {worst}", soft_wrap=True)
    console.print(f"manifest: {result.manifest_path}")


def _layer_error_text(error: dict) -> str:
    if "sqnr_db" in error:
        return f"{error['layer']} ({error['sqnr_db']:.1f} dB SQNR)"
    value = error["rmse_per_scale"]
    return f"{error['layer']} ({value:.2f} steps RMSE)" if value is not None else f"{error['layer']}"


@app.command()
def predict(
    artifact: Annotated[Path, typer.Argument(help="A .tflite, .onnx, .keras or .h5 model.")],
    images: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, BMP) as the camera delivers them.")],
    top_k: Annotated[int, typer.Option(help="Classes to print per image.")] = 3,
    labels: Annotated[Path | None, typer.Option(help="Class names, one per line (default: labels.txt beside).")] = None,
    threads: Annotated[int | None, typer.Option(help="Runtime threads (default: all cores).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Top-k classes with scores for raw images, run by the artifact's own runtime (LiteRT, ONNX Runtime, Keras)."""
    import numpy as np

    from resnet_edge.data.folder import read_image
    from resnet_edge.errors import DataError
    from resnet_edge.runtime import load_runner

    if top_k < 1:
        raise ConfigError(f"--top-k {top_k} is not accepted; use an integer >= 1")
    runner = load_runner(artifact, threads=threads)
    names = _labels(artifact, labels)
    height, width, channels = runner.image_size
    results = {}
    for path in images:
        if not path.is_file():
            raise DataError(f"image '{path}' does not exist; give PNG, JPEG or BMP files")
        try:
            image = read_image(path, height, channels)
        except Exception as exc:  # PIL raises many kinds for a file that is not an image
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"image '{path}' could not be read: {reason}") from exc
        scores = runner.predict(image[None])[0]
        order = np.argsort(-scores)[:top_k]
        results[str(path)] = [(names[i] if i < len(names) else f"class {i}", float(scores[i])) for i in order]
    if as_json:
        sys.stdout.write(json.dumps({k: [{"class": c, "score": p} for c, p in v] for k, v in results.items()}) + "\n")
        return
    for path, top in results.items():
        console.print(f"{path}: " + ", ".join(f"{c} {p:.3f}" for c, p in top), soft_wrap=True, markup=False)


def _image_classifier_input(keras_model, path: Path) -> tuple[int, int]:
    """(size, channels) of a model that takes square images and returns class scores, or a one-line error."""
    shape, out = keras_model.input_shape, keras_model.output_shape
    if (
        not isinstance(shape, tuple)
        or len(shape) != 4
        or shape[1] != shape[2]
        or shape[3] not in (1, 3)
        or not isinstance(out, tuple)
        or len(out) != 2
    ):
        raise ConfigError(
            f"model '{path}' takes {shape} and returns {out}; export needs an image classifier: "
            "(batch, size, size, 1 or 3) in, (batch, classes) out"
        )
    return shape[1], shape[3]


def _labels(artifact: Path, labels: Path | None) -> list[str]:
    """Class names from --labels, else labels.txt beside the artifact, else manifest.json's."""
    from resnet_edge.errors import DataError

    if labels is not None and not labels.is_file():
        raise DataError(f"labels file '{labels}' does not exist; give a text file with one class name per line")
    for candidate in (labels, artifact.parent / "labels.txt"):
        if candidate is not None and candidate.is_file():
            try:
                return [line.strip() for line in candidate.read_text(encoding="utf-8").splitlines() if line.strip()]
            except UnicodeDecodeError:
                raise DataError(f"labels file '{candidate}' is not UTF-8 text with one class name per line") from None
    manifest = artifact.parent / "manifest.json"
    if not manifest.is_file():
        return []
    try:
        names = json.loads(manifest.read_text(encoding="utf-8")).get("class_names", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("class_names is not a list of names")
    except (ValueError, AttributeError, UnicodeDecodeError) as exc:
        raise DataError(f"'{manifest}' is not an export manifest (class_names): {str(exc)[:120]}") from None
    return names


def _thread_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(0 if t.strip().lower() == "all" else int(t) for t in text.split(","))
    except ValueError:
        accepted = "comma-separated counts, 'all' for every core"
        raise ConfigError(f"threads {text!r} are not accepted; give {accepted}") from None


def _bench_data(data: str | None, val_data: str | None, per_class: int, seed: int, artifact: Path):
    if data is None:
        return None
    from resnet_edge.config import DataConfig
    from resnet_edge.data import load_data
    from resnet_edge.runtime import load_runner

    height, _, channels = load_runner(artifact).image_size
    return load_data(DataConfig(source=data, val_source=val_data, per_class=per_class, seed=seed), size=height,
                     channels=channels)  # fmt: skip


@app.command()
def bench(
    artifacts: Annotated[list[Path], typer.Argument(help="Artifacts to measure: .keras, .h5, .tflite, .onnx.")],
    baseline: Annotated[Path | None, typer.Option(help="The uncompressed model; ratios are to it.")] = None,
    data: Annotated[str | None, typer.Option("--data", help="Accuracy on: inspection, folder:DIR, cifar10:...")] = None,
    val_data: ValDataOpt = None,
    per_class: PerClassOpt = 1000,
    seed: Annotated[int, typer.Option(help="Data seed (the validation split).")] = 0,
    threads: Annotated[str, typer.Option(help="Comma-separated thread counts; 'all' = every core.")] = "1,all",
    rounds: Annotated[int, typer.Option(help="Interleaved rounds per thread count.")] = 100,
    warmup: Annotated[int, typer.Option(help="Warm-up rounds, not measured.")] = 10,
    budget_s: Annotated[float | None, typer.Option(help="Stop each thread count after this many seconds.")] = None,
    provider: Annotated[str, typer.Option(help="ONNX Runtime provider: cpu, cuda, tensorrt.")] = "cpu",
    out: Annotated[Path | None, typer.Option(callback=_out_file, help="Write bench.json here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print bench.json instead of the table.")] = False,
) -> None:
    """MACs, params, size, accuracy and latency of artifacts, side by side, as ratios to a baseline."""
    from resnet_edge.bench import measure
    from resnet_edge.config import BenchConfig
    from resnet_edge.fsutil import write_json
    from resnet_edge.runtime import load_runner

    config = BenchConfig(threads=_thread_list(threads), rounds=rounds, warmup=warmup, budget_s=budget_s,
                         provider=provider, seed=seed)  # fmt: skip
    for path in ([baseline] if baseline else []) + list(artifacts):
        load_runner(path, provider=provider)  # every file checked before any measurement
    dataset = _bench_data(data, val_data, per_class, seed, baseline or artifacts[0])
    result = measure(artifacts, baseline=baseline, data=dataset, config=config)
    if out is not None:
        write_json(out, result.to_dict())
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        print_bench(result)


def _short(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f}{unit}"
    return f"{n:.0f}"


def _speedup(ratio) -> str:
    return f"{ratio.speedup:.2f}x [{1 / ratio.high:.2f}-{1 / ratio.low:.2f}]"


def print_bench(result, title: str | None = None) -> None:
    """The before/after table: one row per artifact, the baseline first."""
    title = title or "benchmark (batch 1; MACs = multiply-adds; Keras models use TensorFlow's pool of all cores)"
    table = Table(title=title, title_justify="left")
    for column in ("artifact", "MACs", "params", "MB", "acc %", *(f"p50 ms@{t}t" for t in result.threads)):
        table.add_column(column, justify="left" if column == "artifact" else "right", no_wrap=column == "artifact")
    if result.baseline:
        for t in result.threads:
            table.add_column(f"speed-up@{t}t [95% CI]", justify="right")
    if result.reference:
        for t in result.threads:
            table.add_column(f"vs {result.reference}@{t}t", justify="right")
    for r in result.rows:
        cells = [r.name + (" (baseline)" if r.name == result.baseline else ""), _short(r.macs), _short(r.params),
                 f"{r.bytes / 1e6:.2f}", "-" if r.accuracy is None else f"{r.accuracy:.2f}"]  # fmt: skip
        cells += [f"{r.latency[str(t)]['p50_ms']:.3f}" for t in result.threads]
        if result.baseline:
            cells += [_speedup(r.ratio[str(t)]) for t in result.threads]
        if result.reference:
            cells += [_speedup(r.reference_ratio[str(t)]) for t in result.threads]
        table.add_row(*cells)
    console.print(table)


@app.command()
def gate(
    candidate: Annotated[Path, typer.Option(help="The artifact under test.")],
    baseline: Annotated[Path, typer.Option(help="The artifact it must not regress from.")],
    max_slowdown: Annotated[str, typer.Option(help="Latency threshold, e.g. 10%.")] = "10%",
    max_macs: Annotated[str | None, typer.Option(help="MACs ceiling: 40M, or +5% of the baseline.")] = None,
    max_params: Annotated[str | None, typer.Option(help="Params ceiling: 1.2M, or +5%.")] = None,
    max_size: Annotated[str | None, typer.Option(help="File size ceiling: 2.5MB, or +5%.")] = None,
    max_ops: Annotated[str | None, typer.Option(help="Operator count ceiling: 120, or +0%.")] = None,
    threads: Annotated[int, typer.Option(help="Threads for the latency check.")] = 1,
    rounds: Annotated[int, typer.Option(help="Interleaved rounds.")] = 200,
    junit: Annotated[Path | None, typer.Option(callback=_out_file, help="Write JUnit XML here.")] = None,
    out: Annotated[
        Path | None, typer.Option("--json", callback=_out_file, help="Write the result as JSON here.")
    ] = None,
) -> int:
    """CI gate: exit 1 only on a real regression (latency interval above the threshold, or a static limit)."""
    from resnet_edge.gate import GateConfig, Limit, parse_percent, write_junit, write_result
    from resnet_edge.gate import gate as run_gate
    from resnet_edge.runtime import load_runner

    limits = {name: Limit.parse(value, f"--{name.replace('_', '-')}") if value is not None else None
              for name, value in (("max_macs", max_macs), ("max_params", max_params), ("max_size", max_size),
                                  ("max_ops", max_ops))}  # fmt: skip
    config = GateConfig(max_slowdown=parse_percent(max_slowdown, "--max-slowdown"), threads=threads, rounds=rounds,
                        **limits)  # fmt: skip
    for path in (candidate, baseline):
        load_runner(path)
    result = run_gate(candidate, baseline, config)
    for check in result.checks:
        mark = "[green]pass[/green]" if check.passed else "[red]FAIL[/red]"
        console.print(f"{mark} {check.name}: {check.message}", soft_wrap=True)
    if junit is not None:
        write_junit(result, junit)
    if out is not None:
        write_result(result, out)
    return 0 if result.passed else 1


def _deep_merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict:
    import yaml

    if not path.is_file():
        raise ConfigError(
            f"config file '{path}' does not exist; give a YAML recipe such as pipelines/cifar_resnet56.yaml"
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file '{path}' is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping of sections (model, data, train, ...)")
    return raw


@app.command()
def build(
    out: Annotated[Path, typer.Option(callback=_out_dir, help="Run folder.")] = Path("runs/build"),
    config: Annotated[Path | None, typer.Option("--config", help="A YAML recipe (pipelines/*.yaml).")] = None,
    depth: Annotated[int | None, typer.Option(help="Depth: 18-152 (ImageNet), 6n+2 / 9n+2 (CIFAR).")] = None,
    input_size: Annotated[int | None, typer.Option(help="Input size (ImageNet depths default to 64 here).")] = None,
    data: Annotated[str | None, typer.Option("--data", help="inspection, folder:DIR, cifar10:PATH.")] = None,
    per_class: Annotated[int | None, typer.Option(help="Images per class of the built-in set.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs.")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate (default: the recipe's).")] = None,
    recipe: Annotated[str | None, typer.Option(help="Training recipe (default auto: measured per depth).")] = None,
    weights: WeightsOpt = None,
    min_accuracy: MinAccuracyOpt = None,
    deploy_size: Annotated[
        int | None, typer.Option(help="Also time each architecture at this input size (latency only).")
    ] = None,
    stream: StreamOpt = None,
    max_accuracy_drop: Annotated[float | None, typer.Option(help="Pruning budget in accuracy points.")] = None,
    target_macs: Annotated[float | None, typer.Option(help="Prune to this fraction of the MACs instead.")] = None,
    no_prune: Annotated[bool, typer.Option("--no-prune", help="Skip depth pruning.")] = False,
    step_epochs: Annotated[int | None, typer.Option(help="Fine-tune epochs per pruning step.")] = None,
    quantize: Annotated[
        str | None, typer.Option(help="Comma-separated modes besides fp32: fp16, dynamic, int8, qat; none.")
    ] = None,
    formats: Annotated[str | None, typer.Option("--format", help="Comma-separated: tflite, onnx.")] = None,
    threads: Annotated[str | None, typer.Option(help="Benchmark thread counts, e.g. 1,all.")] = None,
    rounds: Annotated[int | None, typer.Option(help="Benchmark rounds.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for data, weights and order.")] = None,
    allow_invalid: Annotated[bool, typer.Option("--allow-invalid", help="Exit 0 with invalid artifacts.")] = False,
) -> int:
    """Train, prune, quantize, export, benchmark and report, in one run folder (finished stages are reused).
    Stops after training (exit 1, run folder kept) when the model ends near chance."""
    from resnet_edge.config import BuildConfig
    from resnet_edge.pipeline import build as run_build

    raw = _read_yaml(config) if config else {}
    overrides: dict = {}

    def put(section: str, key: str, value) -> None:
        if value is not None:
            overrides.setdefault(section, {})[key] = value

    put("model", "depth", depth)
    put("model", "input_size", input_size)
    put("data", "source", data)
    put("data", "per_class", per_class)
    put("train", "epochs", epochs)
    put("train", "lr", lr)
    put("train", "recipe", recipe)
    put("train", "weights", weights)
    put("train", "min_accuracy", min_accuracy)
    put("bench", "deploy_size", deploy_size)
    put("data", "stream", stream)
    for section in ("data", "train", "quantize", "bench"):
        put(section, "seed", seed)
    if max_accuracy_drop is not None or target_macs is not None:
        put("prune", "max_accuracy_drop", max_accuracy_drop)
        put("prune", "target_macs", target_macs)
    put("prune", "step_epochs", step_epochs)
    if quantize is not None:
        modes = [m for m in quantize.split(",") if m.strip() and m.strip().lower() != "none"]
        put("export", "modes", ["fp32", *[m for m in modes if m.strip().lower() != "fp32"]])
    put("export", "formats", formats.split(",") if formats else None)
    put("bench", "threads", list(_thread_list(threads)) if threads else None)
    put("bench", "rounds", rounds)
    merged = _deep_merge(raw, overrides)
    if no_prune:
        merged["prune"] = "none"
    result = run_build(BuildConfig.from_dict(merged), out=out)
    console.print(f"run folder {result.out}: ran {', '.join(result.ran)}"
                  + (f"; reused {', '.join(result.cached)}" if result.cached else "")
                  + f" · report {result.report_path}")  # fmt: skip
    if result.invalid and not allow_invalid:
        err_console.print(f"resnet-edge: {len(result.invalid)} artifact(s) failed validation: "
                          f"{', '.join(result.invalid)}", markup=False, soft_wrap=True)  # fmt: skip
        return 1
    return 0


@app.command()
def report(run: Annotated[Path, typer.Argument(help="A run folder written by `resnet-edge build`.")]) -> None:
    """Write report.md and a self-contained report.html for a run folder."""
    from resnet_edge.report import write_report

    path = write_report(run)
    console.print(f"report: {run / 'report.md'} · {path}")


data_app = typer.Typer(help="Data sets: write the built-in inspection set as an image folder.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Option(callback=_out_dir, help="A new folder: one sub-folder per class, PNG files.")],
    size: Annotated[int, typer.Option(help="Image height = width.")] = 64,
    per_class: Annotated[int, typer.Option(help="Images per class.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same images.")] = 0,
    channels: ChannelsOpt = 3,
) -> None:
    """Write the built-in synthetic inspection data set as an image folder, to look at or train from."""
    from resnet_edge.data.synth import SynthSpec, write_folder

    counts = write_folder(SynthSpec(size=size, per_class=per_class, seed=seed, channels=channels), out)
    console.print(f"wrote {sum(counts.values())} images to {out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


MAX_ERROR_CHARS = 400  # a value echoed into an error (a YAML alias bomb, a huge list) must not flood the terminal


def _bounded(message: str) -> str:
    """One line of at most MAX_ERROR_CHARS characters."""
    line = " ".join(message.split())
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 25] + f" ... ({len(line)} chars)"


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app without click's own exit handling so every user error is one line."""
    try:
        result = app(args=argv, prog_name="resnet-edge", standalone_mode=False)
    except click_exc.NoArgsIsHelpError as exc:
        console.print(exc.ctx.get_help())
        return 0
    except click_exc.ClickException as exc:
        err_console.print(f"resnet-edge: error: {_bounded(exc.format_message())}", soft_wrap=True, markup=False)
        return exc.exit_code
    except ResnetEdgeError as exc:
        err_console.print(f"resnet-edge: error: {_bounded(str(exc))}", soft_wrap=True, markup=False)
        return exc.exit_code
    except OSError as exc:  # the machine refused: a full disk, a read-only or vanished folder
        where = f" '{exc.filename}'" if exc.filename else ""
        err_console.print(f"resnet-edge: error: cannot use{where}: {_bounded(exc.strerror or str(exc))}",
                          soft_wrap=True, markup=False)  # fmt: skip
        return 2
    except typer.Abort as exc:  # click turns an EOFError (a truncated stream, a closed stdin) into Abort
        if isinstance(exc.__cause__, EOFError):
            err_console.print(f"resnet-edge: error: input ended early (a truncated file?): {exc.__cause__}",
                              soft_wrap=True, markup=False)  # fmt: skip
            return 2
        return _interrupted()
    except KeyboardInterrupt:
        return _interrupted()
    if result == INTERRUPTED:  # typer maps Ctrl-C to a silent exit code 130
        return _interrupted()
    return result if isinstance(result, int) else 0


INTERRUPTED = 130  # 128 + SIGINT, the shell's convention


def _interrupted() -> int:
    message = ("resnet-edge: interrupted (Ctrl-C); finished epochs and stages are kept "
               "(train --resume, or the same build command, continues)")  # fmt: skip
    err_console.print(message, markup=False, soft_wrap=True)
    return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
