"""The stages' settings: typed, frozen configs, each field declared once with its default and help text.

One dataclass per stage (train, prune, quantize, export, bench) and `BuildConfig`, which holds one of each and
reads `config.yaml` / `pipelines/*.yaml` with command-line overrides. The command line builds its options from
these fields (`resnet_edge.cli.options`), so a default lives here and nowhere else. Nothing here imports
TensorFlow. The model's own config is `resnet_edge.models.config.ModelConfig`; the data's is
`resnet_edge.data.config.DataConfig`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from resnet_edge.data.config import DataConfig
from resnet_edge.errors import ConfigError
from resnet_edge.models.config import ModelConfig, Variant, Version
from resnet_edge.settings import enum_values, parse_enum, parse_enums, setting


class Recipe(StrEnum):
    SGD_STEP = "sgd-step"  # SGD momentum 0.9, lr 0.1 / 10 at 50 % and 75 % of training, weight decay 1e-4 (He et al.)
    ADAM_PLATEAU = "adam-plateau"  # Adam 1e-3, ReduceLROnPlateau, early stopping (the Keras CIFAR-10 example)
    COSINE = "cosine"  # SGD with linear warm-up and cosine decay, label smoothing 0.1
    ADAMW = "adamw"  # AdamW with linear warm-up and cosine decay, label smoothing 0.1
    FINETUNE = "finetune"  # from ImageNet weights (--weights): the new head first, then everything, BN frozen
    AUTO = "auto"  # the recipe measured to work for the model's depth family (train.auto_recipe)


class Strategy(StrEnum):
    DEFAULT = "default"  # one device: the GPU when present, else the CPU
    MIRRORED = "mirrored"  # all local GPUs (or all logical CPUs) with MirroredStrategy
    MULTIWORKER = "multiworker"  # several hosts: MultiWorkerMirroredStrategy, cluster from TF_CONFIG


def _check_at_least(config: Any, minimum: float, *names: str) -> None:
    for name in names:
        if getattr(config, name) < minimum:
            raise ConfigError(f"{name.replace('_', ' ')} {getattr(config, name)!r} is not accepted; use >= {minimum}")


@dataclass(frozen=True)
class TrainConfig:
    recipe: Recipe = setting(Recipe.AUTO, "Training recipe (auto: the one measured for the depth).")
    epochs: int = setting(30, "Epochs.")
    batch_size: int = setting(128, "Global batch size.")
    lr: float | None = setting(None, "Peak learning rate; default: the recipe's, scaled to the batch.")
    weight_decay: float | None = setting(None, "Default: the recipe's.")
    seed: int = setting(0, "Seeds weights, data order and augmentation.")
    augment: bool = setting(True, "Flips and pad-and-crop.")
    mixed_precision: bool | None = setting(None, "Default: on with a GPU.")
    xla: bool | None = setting(None, "Default: on with a GPU.")
    strategy: Strategy = setting(Strategy.DEFAULT, "Devices to train on.")
    deterministic: bool = setting(False, "TensorFlow op determinism (also on GPU), at some speed cost.")
    weights: str | None = setting(
        None, "keras.applications ResNet50/101/152 ImageNet weights (.h5) to fine-tune from; never downloaded."
    )
    min_accuracy: float | None = setting(
        None, "Fail (exit 1) below this validation accuracy in %; default: near chance."
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "recipe", parse_enum(Recipe, self.recipe, "recipe"))
        object.__setattr__(self, "strategy", parse_enum(Strategy, self.strategy, "strategy"))
        _check_at_least(self, 1, "epochs", "batch_size")
        if self.lr is not None and self.lr <= 0:
            raise ConfigError(f"learning rate {self.lr!r} is not accepted; use a positive number")
        if self.weight_decay is not None and self.weight_decay < 0:
            raise ConfigError(f"weight decay {self.weight_decay!r} is negative; use a value >= 0")
        if self.min_accuracy is not None and not 0 <= self.min_accuracy <= 100:
            raise ConfigError(f"min accuracy {self.min_accuracy!r} is not accepted; use a percentage in [0, 100]")
        if self.weights is not None:
            object.__setattr__(self, "weights", str(self.weights))

    def to_dict(self) -> dict[str, Any]:
        return enum_values(asdict(self))


# The degradation study's training: He et al.'s CIFAR recipe (SGD 0.1, /10 at 50 % and 75 %), so depths compare
# under the paper's schedule
DEGRADATION_TRAIN = TrainConfig(recipe=Recipe.SGD_STEP, epochs=30)


class Decision(StrEnum):
    """How a candidate is judged against an accuracy (or escape) budget on the validation split."""

    POINT = "point"  # the paired point estimate within the budget (the interval is recorded and reported)
    UPPER = "upper"  # the upper end of the paired 95 % interval within the budget: conservative, needs many images


PRUNE_MODES = ("threshold", "target_macs", "max_accuracy_drop")


class TargetRuntime(StrEnum):
    """The runtime and artifact kind a latency target is measured on."""

    TFLITE_INT8 = "tflite-int8"
    TFLITE_FP32 = "tflite-fp32"
    ONNX_INT8 = "onnx-int8"
    ONNX_FP32 = "onnx-fp32"

    @property
    def suffix(self) -> str:
        return "." + self.value.split("-")[0]

    @property
    def int8(self) -> bool:
        return self.value.endswith("int8")


@dataclass(frozen=True)
class LatencyTarget:
    """A p50 in milliseconds ('8ms') or a fraction of the unpruned model's p50 ('0.5x')."""

    value: float
    unit: str  # "ms" or "x"

    @classmethod
    def parse(cls, text: str) -> LatencyTarget:
        raw = str(text).strip().lower().replace(" ", "")
        unit = "ms" if raw.endswith("ms") else "x" if raw.endswith("x") else ""
        try:
            value = float(raw[: -len(unit)]) if unit else float("nan")
        except ValueError:
            value = float("nan")
        if not value > 0 or (unit == "x" and value > 1):
            raise ConfigError(f"target latency {text!r} is not accepted; give milliseconds ('8ms') or a fraction "
                              "of the unpruned model's latency in (0, 1] ('0.5x')")  # fmt: skip
        return cls(value, unit)

    def ratio(self, unpruned_ms: float) -> float:
        """The target as a fraction of the unpruned model's p50."""
        return self.value if self.unit == "x" else self.value / unpruned_ms

    def __str__(self) -> str:
        return f"{self.value:g}{self.unit}"


@dataclass(frozen=True)
class PruneConfig:
    """Which residual blocks to remove; exactly one of threshold, target_macs, max_accuracy_drop."""

    threshold: float | None = setting(None, "Remove blocks whose residual ratio ||F(x)||^2/||x||^2 is below R (0-1).")
    target_macs: float | None = setting(None, "Keep at most this fraction F of the MACs (0-1], least useful first.")
    max_accuracy_drop: float | None = setting(None, "Remove blocks step by step while within P points of unpruned.")
    step_blocks: int = setting(1, "Blocks removed per step (max-accuracy-drop mode).")
    patience: int = setting(3, "Rejected steps in a row that end the search.")
    calibration_batches: int = setting(4, "Training batches for the residual ratios.")
    batch_size: int = setting(64, "Calibration and fine-tuning batch size.")
    finetune_epochs: int = setting(2, "Fine-tune epochs after a one-shot removal.")
    step_epochs: int = setting(1, "Fine-tune epochs after each search step.")
    quick_epochs: int = setting(
        0,
        "A search step is fine-tuned this many epochs and judged first; only a step over budget then gets the "
        "rest of --step-epochs (0: always all of them).",
    )
    rescore_window: int = setting(
        8, "After an accepted step, ablate again only this many candidates next in line (0: every block)."
    )
    # SGD (cosine) after a removal. 0.001, not 0.01: on the ResNet-50 of `build --depth 50` (trained by Adam, the
    # auto recipe) one epoch at 0.01 lost 1.2-3.3 points after removing a single block, at 0.001 0.5
    finetune_lr: float = setting(0.001, "Peak learning rate of the fine-tuning.")
    distill: bool = setting(False, "Fine-tune with distillation from the unpruned model as well as the labels.")
    prune_downsample: bool = setting(False, "Down-sampling blocks may be reduced to their shortcut.")
    sparsify_epochs: int = setting(0, "First train this many epochs with L1-penalised residual scales (0: off).")
    sparsify_l1: float = setting(0.05, "L1 penalty on each residual scale.")
    decision: Decision = setting(
        Decision.POINT,
        "How a step is judged against the budgets on the validation split: "
        "point (the paired estimate) or upper (the upper end of its 95 % interval).",
    )
    max_escape_increase: float | None = setting(None, "Points the escape rate (defect predicted good) may rise.")
    target_latency: str | None = setting(
        None,
        "Remove blocks until the p50 on --target-runtime is at most this: milliseconds ('8ms') or a fraction of "
        "the unpruned model's ('0.5x'); --max-accuracy-drop, when given too, still rejects steps.",
    )
    target_runtime: TargetRuntime = setting(
        TargetRuntime.TFLITE_INT8, "Runtime and artifact kind every step's latency is measured on."
    )
    target_threads: int = setting(2, "Threads of the latency measurements.")
    target_size: int | None = setting(None, "Input size of the latency measurements (default: the model's).")
    seed: int = setting(0, "Seed of the fine-tuning (and the data split the model was trained with).")

    def __post_init__(self) -> None:
        object.__setattr__(self, "decision", parse_enum(Decision, self.decision, "decision"))
        object.__setattr__(self, "target_runtime", parse_enum(TargetRuntime, self.target_runtime, "target runtime"))
        if self.target_latency is not None:
            object.__setattr__(self, "target_latency", str(LatencyTarget.parse(self.target_latency)))
        if self.max_escape_increase is not None and not 0 <= self.max_escape_increase <= 100:
            raise ConfigError(
                f"max escape increase {self.max_escape_increase!r} is not accepted; use points in [0, 100]"
            )
        given = [k for k in PRUNE_MODES if getattr(self, k) is not None]
        if self.target_latency is not None and given not in ([], ["max_accuracy_drop"]):
            raise ConfigError(f"--target-latency combines with --max-accuracy-drop only (received also {given[0]})")
        if len(given) != 1 and self.target_latency is None:
            raise ConfigError(
                "give exactly one of --threshold, --target-macs, --max-accuracy-drop, or --target-latency "
                f"(received {given or 'none'})"
            )
        if self.threshold is not None and not 0 <= self.threshold <= 1:
            raise ConfigError(f"threshold {self.threshold!r} is outside [0, 1]; it is a residual energy ratio")
        if self.target_macs is not None and not 0 < self.target_macs <= 1:
            raise ConfigError(f"target MACs {self.target_macs!r} is outside (0, 1]; it is a fraction of the MACs")
        if self.max_accuracy_drop is not None and not 0 <= self.max_accuracy_drop <= 100:
            raise ConfigError(f"max accuracy drop {self.max_accuracy_drop!r} is not accepted; use points in [0, 100]")
        _check_at_least(self, 1, "step_blocks", "patience", "calibration_batches", "batch_size", "target_threads")
        if self.target_size is not None and self.target_size < 32:
            raise ConfigError(f"target size {self.target_size!r} is not accepted; use an input size >= 32 pixels")
        _check_at_least(self, 0, "finetune_epochs", "step_epochs", "sparsify_epochs", "rescore_window", "quick_epochs")
        if self.sparsify_l1 <= 0:
            raise ConfigError(f"sparsify L1 {self.sparsify_l1!r} is not accepted; use a positive number")

    def to_dict(self) -> dict[str, Any]:
        return enum_values(asdict(self))


class QuantMode(StrEnum):
    FP32 = "fp32"  # the float model, converted as it is
    FP16 = "fp16"  # float16 weights (TFLite dequantizes them on CPU, GPUs run them natively)
    DYNAMIC = "dynamic"  # int8 weights, float activations quantized on the fly: no calibration data needed
    INT8 = "int8"  # full-integer post-training quantization, calibrated on representative training images
    QAT = "qat"  # quantization-aware fine-tuning (tfmot), then full-integer conversion


class ExportFormat(StrEnum):
    TFLITE = "tflite"
    ONNX = "onnx"
    TFLM = "tflm"  # TensorFlow Lite Micro: model_data.cc / .h holding the int8 TFLite model (export/tflm.py)


class IoType(StrEnum):
    """The input and output tensor type of a full-integer TFLite model (what the camera feeds and reads)."""

    INT8 = "int8"
    UINT8 = "uint8"
    FLOAT32 = "float32"  # integer inside, float at the edges (a quantize and a dequantize op are added)


class CalibrationMethod(StrEnum):
    """How ONNX Runtime's static quantizer picks activation ranges from the representative data."""

    MINMAX = "minmax"
    ENTROPY = "entropy"
    PERCENTILE = "percentile"


class ActivationType(StrEnum):
    """ONNX Runtime activation type; weights are always int8. uint8 activations (U8S8) ran ResNet-50 2.5x
    faster than int8/int8 on an x86 CPU here; int8 activations suit some NPUs."""

    UINT8 = "uint8"
    INT8 = "int8"


class TfliteQuantizer(StrEnum):
    """What turns the float model into an int8 TFLite model (post-training, the same calibration images)."""

    CONVERTER = "converter"  # the TFLite converter's own quantizer (representative_dataset), as TF documents it
    LITERT = "litert"  # the LiteRT Quantizer (ai-edge-quantizer) on the fp32 .tflite: recipe static_wi8_ai8


class Provider(StrEnum):
    """ONNX Runtime execution provider for benchmarks (TFLite and Keras run on the CPU)."""

    CPU = "cpu"
    CUDA = "cuda"
    TENSORRT = "tensorrt"


class Target(StrEnum):
    """What a `.tflite` must run on: an accelerator, judged by its published rules (`resnet_edge.check.rules`), or
    LiteRT's CPU kernels, which run every builtin op."""

    EDGETPU = "edgetpu"  # Coral Edge TPU (edgetpu_compiler)
    NPU_INT8 = "npu-int8"  # an int8 NPU, by Arm Ethos-U's published list (Vela)
    CPU = "cpu"

    @property
    def accelerator(self) -> bool:
        return self is not Target.CPU


EDGETPU_RUNTIMES = range(10, 15)  # the runtime versions Coral's supported-operations table distinguishes


@dataclass(frozen=True)
class CheckConfig:
    """Which accelerator a `.tflite` is checked against."""

    target: Target = setting(Target.EDGETPU, "Accelerator whose published rules the model must meet (cpu: loads).")
    edgetpu_runtime: int = setting(
        14, "Edge TPU runtime the model is compiled for (edgetpu_compiler -m); ops the table lists as newer fall back."
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", parse_enum(Target, self.target, "target"))
        if self.edgetpu_runtime not in EDGETPU_RUNTIMES:
            first, last = EDGETPU_RUNTIMES.start, EDGETPU_RUNTIMES.stop - 1
            raise ConfigError(f"Edge TPU runtime {self.edgetpu_runtime!r} is not accepted; use {first}-{last} "
                              "(the versions Coral's table lists)")  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return enum_values(asdict(self))


INTEGER_MODES = (QuantMode.INT8, QuantMode.QAT)  # modes that need representative (calibration) data
FLOAT_MODES = (QuantMode.FP32, QuantMode.FP16)
ONNX_OPSETS = range(13, 19)  # tf2onnx 1.17 converts opsets 13-18; 19+ fail


@dataclass(frozen=True)
class QuantizeConfig:
    """How to quantize: calibration data, granularity, integer I/O, QAT fine-tuning, weight sparsity."""

    representative_count: int = setting(200, "Training images for int8 calibration.", flag="--representative")
    per_channel: bool = setting(True, "Per-channel weights (per-tensor for accelerators that need it).",
                                flag="--per-channel/--per-tensor")  # fmt: skip
    io_type: IoType = setting(IoType.INT8, "Full-integer TFLite input/output type.")
    tflite_quantizer: TfliteQuantizer = setting(
        TfliteQuantizer.CONVERTER, "int8 TFLite by the TFLite converter or the LiteRT Quantizer (ai-edge-quantizer)."
    )
    calibration: CalibrationMethod = setting(CalibrationMethod.MINMAX, "ONNX static calibration method.")
    activation_type: ActivationType = setting(
        ActivationType.UINT8, "ONNX int8 activation type: uint8 (x86) or int8.", flag="--activation"
    )
    # ONNX: 7-bit weights. u8 x s8 products summed in int16 saturate on x86 CPUs without VNNI (AVX2, AVX-512):
    # ResNet-20 here lost 4.3 points with full-range weights and 0.4 with reduced range, at the same speed.
    reduce_range: bool = setting(True, "ONNX: 7-bit weights (no int16 saturation on x86 without VNNI).")
    qat_epochs: int = setting(2, "Quantization-aware fine-tuning epochs (mode qat).")
    qat_lr: float = setting(1e-3, "Peak learning rate of QAT.")
    weight_sparsity: float | None = setting(None, "Magnitude-prune weights to this sparsity before QAT (0-1).")
    batch_size: int = setting(64, "QAT fine-tuning batch size.", flag="--qat-batch-size")
    # as the model was trained: QAT on flipped and shifted images took a digit classifier trained without them from
    # 98.3 % to 74.1 % (without: 98.9 %); build sets it from train.augment
    augment: bool = setting(True, "Flips and pad-and-crop during QAT (off for a model trained without them).",
                            flag="--qat-augment/--no-qat-augment")  # fmt: skip
    seed: int = setting(0, "Seed of the calibration sample and QAT.")

    def __post_init__(self) -> None:
        object.__setattr__(self, "io_type", parse_enum(IoType, self.io_type, "I/O type"))
        quantizer = parse_enum(TfliteQuantizer, self.tflite_quantizer, "TFLite quantizer")
        object.__setattr__(self, "tflite_quantizer", quantizer)
        if quantizer is TfliteQuantizer.LITERT and self.io_type is IoType.UINT8:  # its recipes have no uint8 tensors
            raise ConfigError("I/O type 'uint8' is not accepted with TFLite quantizer 'litert'; use int8 or float32")
        object.__setattr__(self, "calibration", parse_enum(CalibrationMethod, self.calibration, "calibration"))
        object.__setattr__(self, "activation_type", parse_enum(ActivationType, self.activation_type, "activation"))
        _check_at_least(self, 0, "representative_count")
        _check_at_least(self, 1, "qat_epochs", "batch_size")
        if self.qat_lr <= 0:
            raise ConfigError(f"QAT learning rate {self.qat_lr!r} is not accepted; use a positive number")
        if self.weight_sparsity is not None and not 0 < self.weight_sparsity < 1:
            raise ConfigError(f"weight sparsity {self.weight_sparsity!r} is outside (0, 1); it is a fraction")

    def to_dict(self) -> dict[str, Any]:
        return enum_values(asdict(self))


@dataclass(frozen=True)
class ExportConfig:
    """Which artifacts to write and the checks each must pass before it is called valid."""

    formats: tuple[ExportFormat, ...] = setting(
        (ExportFormat.TFLITE, ExportFormat.ONNX),
        "Comma-separated formats; tflm: model_data.cc/.h of the int8 TFLite model for TensorFlow Lite Micro.",
        flag="--format",
    )
    modes: tuple[QuantMode, ...] = setting(
        (QuantMode.FP32, QuantMode.FP16, QuantMode.DYNAMIC, QuantMode.INT8), "Comma-separated modes.", flag="--mode"
    )
    opset: int = setting(17, "ONNX opset, 13-18.")
    float_agreement: float = setting(99.5, "% top-1 agreement with Keras that fp32/fp16 must reach.")
    int8_agreement: float = setting(97.0, "% top-1 agreement with Keras that dynamic/int8/qat must reach.")
    int8_max_drop: float = setting(1.0, "Points of accuracy an integer model may lose.", flag="--max-accuracy-drop")
    max_escape_increase: float | None = setting(
        None, "Points an artifact's escape rate (defect predicted good) may rise over Keras' (validation)."
    )
    layer_report: bool = setting(True, "Per-layer error of int8 artifacts.")
    layer_report_top: int = setting(10, "Layers listed in the per-layer report.")
    target: Target | None = setting(
        None,
        "Make the TFLite int8 artifacts for this accelerator (edgetpu: uint8 I/O, per-tensor weights) and record "
        "`resnet-edge check`'s verdict on each TFLite artifact.",
    )
    fallback: int = setting(
        0, "An int8 artifact that fails validation keeps up to K layers in float, worst first, until it passes."
    )
    fallback_rounds: int = setting(20, "Interleaved latency rounds of a fallback artifact against the plain int8 one.")

    def __post_init__(self) -> None:
        object.__setattr__(self, "formats", parse_enums(ExportFormat, self.formats, "format"))
        object.__setattr__(self, "modes", parse_enums(QuantMode, self.modes, "mode"))
        if self.target is not None:
            object.__setattr__(self, "target", parse_enum(Target, self.target, "target"))
            integer = [m for m in self.modes if m in INTEGER_MODES]
            if self.target.accelerator and (ExportFormat.TFLITE not in self.formats or not integer):
                given = f"{_joined(self.formats)} / {_joined(self.modes)}"
                raise ConfigError(f"--target {self.target.value} takes a full-integer TFLite model: give --format "
                                  f"tflite and --mode int8 or qat (received {given})")  # fmt: skip
        if self.opset not in ONNX_OPSETS:
            raise ConfigError(f"opset {self.opset!r} is not accepted; tf2onnx converts opsets 13-18")
        if ExportFormat.TFLM in self.formats and QuantMode.INT8 not in self.modes:
            modes = ",".join(m.value for m in self.modes)
            raise ConfigError(f"--format tflm embeds the int8 TFLite model; add int8 to --mode (received {modes})")
        _check_at_least(self, 0, "fallback")
        _check_at_least(self, 5, "fallback_rounds")
        for name in ("float_agreement", "int8_agreement", "int8_max_drop"):
            if not 0 <= getattr(self, name) <= 100:
                raise ConfigError(f"{name.replace('_', ' ')} {getattr(self, name)!r} is not a percentage in [0, 100]")

    def to_dict(self) -> dict[str, Any]:
        return enum_values(asdict(self))


def _joined(values: tuple[StrEnum, ...]) -> str:
    return ",".join(v.value for v in values)


def parse_threads(value: Any) -> tuple[int, ...]:
    """Thread counts from '1,all' or a sequence; 0 and 'all' mean every core."""
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list | tuple) else [value]
    try:
        return tuple(0 if str(t).strip().lower() == "all" else int(t) for t in items)
    except (TypeError, ValueError):
        raise ConfigError(
            f"threads {value!r} are not accepted; give comma-separated counts, 'all' for every core"
        ) from None


@dataclass(frozen=True)
class BenchConfig:
    """How latency is measured: batch 1, interleaved rounds, for each thread count (0 = all cores)."""

    threads: tuple[int, ...] = setting((1, 0), "Comma-separated thread counts; 'all' (or 0) = every core.")
    warmup: int = setting(2, "Warm-up rounds, not measured.")
    rounds: int = setting(60, "Interleaved rounds per thread count.")
    # each round gives every model a block: untimed runs while the previous model's pool threads still spin (and
    # its own wake), then `block` timed runs whose median is the round's sample (latency.py's docstring)
    block: int = setting(5, "Timed runs per model per round, back to back.")
    settle_ms: float = setting(20.0, "Untimed runs of each model's block for at least this long (at least one).")
    budget_s: float | None = setting(None, "Stop each thread count after this many seconds.")
    provider: Provider = setting(Provider.CPU, "ONNX Runtime execution provider.")
    deploy_size: int | None = setting(None, "build: also time each architecture at this input size (latency only).")
    confidence: float = setting(0.95, "Confidence level of the latency ratios' intervals.")
    resamples: int = setting(2000, "Bootstrap resamples of the latency ratios.")
    seed: int = setting(0, "Seed of the bootstrap (and the data split for accuracy).")

    def __post_init__(self) -> None:
        object.__setattr__(self, "threads", parse_threads(self.threads))
        object.__setattr__(self, "provider", parse_enum(Provider, self.provider, "provider"))
        if not self.threads or min(self.threads) < 0:
            raise ConfigError(f"threads {list(self.threads)} are not accepted; give counts >= 1, or 0 for all cores")
        if self.rounds < 5 or self.warmup < 0:
            raise ConfigError(f"rounds {self.rounds!r} / warm-up {self.warmup!r}: use >= 5 rounds, >= 0 warm-up")
        if self.block < 1 or not 0 <= self.settle_ms <= 1000:
            raise ConfigError(f"block {self.block!r} / settle {self.settle_ms!r} ms: use >= 1 run and 0-1000 ms")
        if not 0.5 <= self.confidence < 1:
            raise ConfigError(f"confidence {self.confidence!r} is not accepted; use a level in [0.5, 1)")
        if self.deploy_size is not None and (not isinstance(self.deploy_size, int) or self.deploy_size < 32):
            raise ConfigError(f"deploy size {self.deploy_size!r} is not accepted; use an input size >= 32 pixels")

    def to_dict(self) -> dict[str, Any]:
        return enum_values(asdict(self))


MODEL_KEYS = ("depth", "variant", "version", "shortcut", "plain", "input_size", "channels", "zero_init_residual")
BUILD_IMAGENET_SIZE = 64  # build's default input for ImageNet depths: 224 trains for hours on a 2-core CPU
SECTION_TYPES: dict[str, type] = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig,
                                  "prune": PruneConfig, "quantize": QuantizeConfig, "export": ExportConfig,
                                  "bench": BenchConfig}  # fmt: skip


def _section(cls: type, raw: Any, name: str, base: Any) -> Any:
    """`base` (the build default) with the keys of `raw` (a mapping from YAML or the command line) applied."""
    if raw is None:
        return base
    if not isinstance(raw, dict):
        raise ConfigError(f"section '{name}' must be a mapping of options (received {raw!r})")
    accepted = MODEL_KEYS if name == "model" else tuple(base.__dataclass_fields__)
    unknown = [k for k in raw if k not in accepted]
    if unknown:
        raise ConfigError(f"unknown key '{unknown[0]}' in section '{name}'; accepted: {', '.join(accepted)}")
    raw = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    try:
        if name == "model":  # resolve from what was given: depth 50 alone means the ImageNet ResNet-50
            model = ModelConfig(**{"depth": base.depth, "zero_init_residual": base.zero_init_residual, **raw})
            if "input_size" not in raw and model.variant is Variant.IMAGENET:
                model = replace(model, input_size=BUILD_IMAGENET_SIZE)
            return model
        return cls(**{**{k: getattr(base, k) for k in accepted}, **raw})
    except (TypeError, ValueError) as exc:  # a value of the wrong type for a field (a text where a number goes)
        if isinstance(exc, ConfigError):
            raise
        given = ", ".join(f"{k}={v!r}" for k, v in raw.items())
        raise ConfigError(f"section '{name}': a value of the wrong type among {given} ({exc})") from None


def _prune_section(raw: Any, base: PruneConfig | None) -> PruneConfig | None:
    if raw is None:
        return base
    if raw in (False, "none", "off"):
        return None
    base = base or PruneConfig(max_accuracy_drop=1.0)
    if isinstance(raw, dict) and any(raw.get(k) is not None for k in PRUNE_MODES):  # target_latency adds to the mode
        base = replace(base, max_accuracy_drop=1.0, threshold=None, target_macs=None)
        raw = {**dict.fromkeys(PRUNE_MODES), **raw}  # the mode comes from raw
    return _section(PruneConfig, raw, "prune", base)


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`base` with `extra` applied; nested mappings merge key by key."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML recipe as a mapping of sections, or a one-line ConfigError."""
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


@dataclass(frozen=True)
class BuildConfig:
    """Every stage's configuration: what `config.yaml` holds and what `resnet-edge build` runs."""

    model: ModelConfig = ModelConfig(depth=20)
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig(epochs=10)
    prune: PruneConfig | None = PruneConfig(max_accuracy_drop=1.0, step_blocks=2, step_epochs=1)
    quantize: QuantizeConfig = QuantizeConfig()
    export: ExportConfig = ExportConfig(modes=(QuantMode.FP32, QuantMode.INT8))
    bench: BenchConfig = BenchConfig(rounds=50)

    SECTIONS = tuple(SECTION_TYPES)

    @classmethod
    def load(cls, path: Path | None = None, overrides: dict[str, Any] | None = None) -> BuildConfig:
        """The defaults, then the YAML recipe at `path`, then `overrides` (command-line options by section)."""
        raw = read_yaml(path) if path is not None else {}
        return cls.from_dict(deep_merge(raw, overrides or {}))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BuildConfig:
        """The defaults with `raw`'s sections applied (a YAML file, then command-line overrides, merged)."""
        if not isinstance(raw, dict):
            raise ConfigError(f"a build configuration is a mapping of sections (received {type(raw).__name__})")
        unknown = [k for k in raw if k not in cls.SECTIONS]
        if unknown:
            raise ConfigError(f"unknown section '{unknown[0]}'; accepted: {', '.join(cls.SECTIONS)}")
        base = cls()
        train = raw.get("train")
        if isinstance(train, dict) and train.get("weights") and isinstance(raw.get("model", {}), dict):
            # keras.applications' ImageNet weights are v1 (stride on the first 1x1): the layout they map onto
            raw = {**raw, "model": {"version": Version.V1.value, **(raw.get("model") or {})}}
        if isinstance(train, dict) and train.get("augment") is False and isinstance(raw.get("quantize", {}), dict):
            raw = {**raw, "quantize": {"augment": False, **(raw.get("quantize") or {})}}  # QAT as training did
        sections = {name: _section(kind, raw.get(name), name, getattr(base, name))
                    for name, kind in SECTION_TYPES.items() if name != "prune"}  # fmt: skip
        sections["prune"] = _prune_section(raw.get("prune"), base.prune)
        return cls(**sections)

    def to_dict(self) -> dict[str, Any]:
        model = {k: v for k, v in self.model.to_dict().items() if k in MODEL_KEYS}
        return {"model": model, "data": asdict(self.data), "train": self.train.to_dict(),
                "prune": self.prune.to_dict() if self.prune else "none", "quantize": self.quantize.to_dict(),
                "export": self.export.to_dict(), "bench": self.bench.to_dict()}  # fmt: skip
