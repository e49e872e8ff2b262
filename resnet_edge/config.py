"""Typed, frozen configurations and the closed choices they use.

A config resolves its defaults when it is made (so `ModelConfig(depth=20)` is a complete description of
CIFAR ResNet-20) and rejects what it cannot build with a ConfigError that echoes the value received.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any, TypeVar

from resnet_edge.errors import ConfigError
from resnet_edge.models import specs


class Variant(StrEnum):
    IMAGENET = "imagenet"
    CIFAR = "cifar"


class Version(StrEnum):
    V1 = "v1"  # ImageNet: stride on the bottleneck's first 1x1 (He et al. 2015); CIFAR: 6n+2 basic blocks
    V1_5 = "v1.5"  # ImageNet only: stride on the bottleneck's 3x3 (torchvision)
    V2 = "v2"  # CIFAR only: 9n+2, pre-activation bottlenecks


class Shortcut(StrEnum):
    A = "A"  # parameter-free: subsample and zero-pad the channels
    B = "B"  # 1x1 projection + BatchNorm where the shape changes, identity elsewhere


E = TypeVar("E", bound=StrEnum)


def parse_enum(enum: type[E], value: str | E, what: str) -> E:
    """`value` as a member of `enum`, or a ConfigError that lists the accepted values."""
    if isinstance(value, enum):
        return value
    for member in enum:
        if str(value).lower() == member.value.lower():
            return member
    accepted = ", ".join(m.value for m in enum)
    raise ConfigError(f"{what} {value!r} is not accepted; use one of: {accepted}")


def _depth_error(depth: int, variant: Variant | None) -> ConfigError:
    imagenet = ", ".join(map(str, specs.IMAGENET_DEPTHS))
    v1 = specs.cifar_examples(specs.CIFAR_V1_LAYERS_PER_BLOCK)
    v2 = specs.cifar_examples(specs.CIFAR_V2_LAYERS_PER_BLOCK)
    if variant is Variant.IMAGENET:
        return ConfigError(f"depth {depth} is not an ImageNet ResNet; accepted depths: {imagenet}")
    if variant is Variant.CIFAR:
        return ConfigError(f"depth {depth} is not a CIFAR ResNet; accepted: v1 6n+2 ({v1}) or v2 9n+2 ({v2})")
    return ConfigError(
        f"depth {depth} is not supported; accepted: ImageNet {imagenet}; CIFAR v1 6n+2 ({v1}); CIFAR v2 9n+2 ({v2})"
    )


@dataclass(frozen=True)
class ModelConfig:
    """One ResNet. Unset fields take the defaults of the variant the depth implies.

    `blocks` overrides the blocks per stage (a depth-pruned model is the same spec with fewer blocks).
    """

    depth: int
    variant: Variant | None = None
    version: Version | None = None
    shortcut: Shortcut | None = None
    plain: bool = False
    input_size: int | None = None
    channels: int = 3
    classes: int | None = None
    blocks: tuple[int, ...] | None = None
    shortcut_only: tuple[int, ...] = ()  # stages whose down-sampling first block is reduced to its shortcut
    residual_l1: float | None = None  # learnable residual-branch scales with this L1 penalty (--sparsify)
    input_mean: tuple[float, ...] | None = None  # per channel, raw pixel units: preprocessing inside the model
    input_std: tuple[float, ...] | None = None
    zero_init_residual: bool = False  # each residual branch's last BN starts at gamma 0 (block = identity)

    def __post_init__(self) -> None:
        variant = self._resolve_variant()
        version = self._resolve_version(variant)
        default_shortcut = Shortcut.B if variant is Variant.IMAGENET or version is Version.V2 else Shortcut.A
        shortcut = default_shortcut if self.shortcut is None else parse_enum(Shortcut, self.shortcut, "shortcut")
        imagenet = variant is Variant.IMAGENET
        resolved = {
            "variant": variant,
            "version": version,
            "shortcut": shortcut,
            "input_size": self.input_size if self.input_size is not None else (224 if imagenet else 32),
            "classes": self.classes if self.classes is not None else (1000 if imagenet else 10),
        }
        for name, value in resolved.items():
            object.__setattr__(self, name, value)
        self._check_sizes()
        if self.blocks is not None:
            object.__setattr__(self, "blocks", tuple(int(b) for b in self.blocks))
            self._check_blocks()
        object.__setattr__(self, "shortcut_only", tuple(sorted(int(s) for s in self.shortcut_only)))
        self._check_shortcut_only()

    def _resolve_variant(self) -> Variant:
        if self.variant is not None:
            variant = parse_enum(Variant, self.variant, "variant")
            if variant is Variant.IMAGENET and self.depth not in specs.IMAGENET_DEPTHS:
                raise _depth_error(self.depth, variant)
            return variant
        if self.depth in specs.IMAGENET_DEPTHS:
            return Variant.IMAGENET
        if any(specs.cifar_n(self.depth, k) for k in (6, 9)):
            return Variant.CIFAR
        raise _depth_error(self.depth, None)

    def _resolve_version(self, variant: Variant) -> Version:
        fits_v1 = specs.cifar_n(self.depth, specs.CIFAR_V1_LAYERS_PER_BLOCK) is not None
        fits_v2 = specs.cifar_n(self.depth, specs.CIFAR_V2_LAYERS_PER_BLOCK) is not None
        if self.version is None:
            if variant is Variant.IMAGENET:
                return Version.V1_5
            if not (fits_v1 or fits_v2):
                raise _depth_error(self.depth, variant)
            return Version.V1 if fits_v1 else Version.V2
        version = parse_enum(Version, self.version, "version")
        if variant is Variant.IMAGENET and version is Version.V2:
            raise ConfigError("version 'v2' is CIFAR-only (pre-activation, 9n+2); ImageNet accepts v1, v1.5")
        if variant is Variant.CIFAR:
            if version is Version.V1_5:
                raise ConfigError("version 'v1.5' is ImageNet-only; CIFAR accepts v1 (6n+2), v2 (9n+2)")
            if (version is Version.V1 and not fits_v1) or (version is Version.V2 and not fits_v2):
                rule = "6n+2" if version is Version.V1 else "9n+2"
                k = 6 if version is Version.V1 else 9
                raise ConfigError(
                    f"depth {self.depth} does not fit CIFAR {version.value} ({rule}); "
                    f"accepted: {specs.cifar_examples(k)}"
                )
        return version

    def _check_sizes(self) -> None:
        if not isinstance(self.input_size, int) or self.input_size < 32:
            raise ConfigError(f"input size {self.input_size!r} is too small; accepted: an integer >= 32")
        if not isinstance(self.classes, int) or self.classes < 2:
            raise ConfigError(f"classes {self.classes!r} is not accepted; use an integer >= 2")
        if self.channels not in (1, 3):
            raise ConfigError(f"channels {self.channels!r} is not accepted; use 1 (grayscale) or 3 (RGB)")
        for what, value in (("input mean", self.input_mean), ("input std", self.input_std)):
            if value is not None and len(value) != self.channels:
                raise ConfigError(f"{what} {list(value)} needs one value per channel ({self.channels})")
        if self.input_std is not None and min(self.input_std) <= 0:
            raise ConfigError(f"input std {list(self.input_std)} must be positive")

    def _check_blocks(self) -> None:
        stages = len(self.default_blocks)
        # a stage may lose every block when none of them changes the shape (stage 1 of a CIFAR ResNet)
        if len(self.blocks) != stages or any(b < 0 for b in self.blocks) or sum(self.blocks) == 0:
            raise ConfigError(
                f"blocks {list(self.blocks)} do not fit a {stages}-stage network; "
                f"give {stages} counts, each >= 0 (the full model has {list(self.default_blocks)})"
            )

    def _check_shortcut_only(self) -> None:
        if not self.shortcut_only:
            return
        downsampling = replace(self, shortcut_only=()).arch.reshaping_stages
        bad = [s for s in self.shortcut_only if s not in downsampling]
        if bad:
            raise ConfigError(
                f"shortcut-only stages {bad} are not accepted; only stages whose first block changes the shape "
                f"can be reduced to their shortcut: {downsampling}"
            )

    @property
    def default_blocks(self) -> tuple[int, ...]:
        """Blocks per stage of the unpruned network of this depth."""
        if self.variant is Variant.IMAGENET:
            return specs.IMAGENET_DEPTHS[self.depth][1]
        k = 6 if self.version is Version.V1 else 9
        n = specs.cifar_n(self.depth, k)
        assert n is not None  # checked when the config was made
        return (n, n, n)

    @property
    def arch(self) -> specs.ArchSpec:
        blocks = self.blocks or self.default_blocks
        if self.variant is Variant.IMAGENET:
            return specs.imagenet_spec(self.depth, blocks, self.shortcut_only)
        return specs.cifar_spec(blocks, v2=self.version is Version.V2, shortcut_only=self.shortcut_only)

    @property
    def name(self) -> str:
        """`resnet56`, `plain20`, `resnet50_v1`: the model's name, from its effective depth."""
        family = "plain" if self.plain else "resnet"
        suffix = "_v1" if self.variant is Variant.IMAGENET and self.version is Version.V1 else ""
        suffix += "_v2" if self.version is Version.V2 else ""
        return f"{family}{self.arch.depth}{suffix}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("blocks", "shortcut_only", "input_mean", "input_std"):
            d[key] = list(d[key]) if d[key] is not None else None
        return {k: (v.value if isinstance(v, StrEnum) else v) for k, v in d.items()}


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


@dataclass(frozen=True)
class DataConfig:
    """Where images come from: `inspection` (built-in), `folder:DIR` or `cifar10:PATH`."""

    source: str = "inspection"
    val_source: str | None = None  # an explicit validation set (same scheme); else a stratified split
    val_split: float = 0.2
    per_class: int = 1000  # images per class of the built-in set
    seed: int = 0
    stream: bool | None = None  # folders: decode training images from disk each epoch (None: when they are large)
    stream_cache: str | None = None  # with streaming: keep the decoded training images in this file (tf.data cache)

    def __post_init__(self) -> None:
        if not 0 < self.val_split < 1:
            raise ConfigError(f"validation split {self.val_split!r} is not accepted; use a fraction in (0, 1)")
        if self.per_class < 2:
            raise ConfigError(f"per-class count {self.per_class!r} is too small; use an integer >= 2")


@dataclass(frozen=True)
class TrainConfig:
    recipe: Recipe = Recipe.AUTO
    epochs: int = 30
    batch_size: int = 128
    lr: float | None = None  # None: the recipe's (0.1 for SGD, 1e-3 for Adam), for a batch of 128
    weight_decay: float | None = None  # None: the recipe's
    seed: int = 0
    augment: bool = True
    mixed_precision: bool | None = None  # None: on when a GPU is present
    xla: bool | None = None  # None: on when a GPU is present
    strategy: Strategy = Strategy.DEFAULT
    deterministic: bool = False  # TensorFlow op determinism (also on GPU), at some speed cost
    weights: str | None = None  # keras.applications ResNet50/101/152 ImageNet weights (.h5) to start from
    min_accuracy: float | None = None  # % validation accuracy below which training fails (default: near chance)

    def __post_init__(self) -> None:
        object.__setattr__(self, "recipe", parse_enum(Recipe, self.recipe, "recipe"))
        object.__setattr__(self, "strategy", parse_enum(Strategy, self.strategy, "strategy"))
        if self.epochs < 1:
            raise ConfigError(f"epochs {self.epochs!r} is not accepted; use an integer >= 1")
        if self.batch_size < 1:
            raise ConfigError(f"batch size {self.batch_size!r} is not accepted; use an integer >= 1")
        if self.lr is not None and self.lr <= 0:
            raise ConfigError(f"learning rate {self.lr!r} is not accepted; use a positive number")
        if self.weight_decay is not None and self.weight_decay < 0:
            raise ConfigError(f"weight decay {self.weight_decay!r} is negative; use a value >= 0")
        if self.min_accuracy is not None and not 0 <= self.min_accuracy <= 100:
            raise ConfigError(f"min accuracy {self.min_accuracy!r} is not accepted; use a percentage in [0, 100]")
        if self.weights is not None:
            object.__setattr__(self, "weights", str(self.weights))

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.value if isinstance(v, StrEnum) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class PruneConfig:
    """Which residual blocks to remove; exactly one of threshold, target_macs, max_accuracy_drop."""

    threshold: float | None = None  # remove blocks whose residual ratio ||F(x)||^2 / ||x||^2 is below this
    target_macs: float | None = None  # keep at most this fraction of the MACs, lowest-scoring blocks first
    max_accuracy_drop: float | None = None  # points: remove step by step while within this of the unpruned
    step_blocks: int = 1  # blocks removed per step in max-accuracy-drop mode
    patience: int = 3  # rejected steps in a row that end the max-accuracy-drop search
    calibration_batches: int = 4
    batch_size: int = 64  # calibration and fine-tuning batches
    finetune_epochs: int = 2  # after the removal (and between steps: step_epochs)
    step_epochs: int = 1
    # SGD (cosine) after a removal. 0.001, not 0.01: on the ResNet-50 of `build --depth 50` (trained by Adam, the
    # auto recipe) one epoch at 0.01 lost 1.2-3.3 points after removing a single block, at 0.001 0.5
    finetune_lr: float = 0.001
    distill: bool = False  # fine-tune against the unpruned model's softened outputs as well as the labels
    prune_downsample: bool = False  # may replace a down-sampling block by its shortcut alone
    sparsify_epochs: int = 0  # > 0: first train with L1-penalised residual scales (Sparse Structure Selection)
    sparsify_l1: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        given = [k for k in ("threshold", "target_macs", "max_accuracy_drop") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ConfigError(
                f"give exactly one of --threshold, --target-macs, --max-accuracy-drop (received {given or 'none'})"
            )
        if self.threshold is not None and not 0 <= self.threshold <= 1:
            raise ConfigError(f"threshold {self.threshold!r} is outside [0, 1]; it is a residual energy ratio")
        if self.target_macs is not None and not 0 < self.target_macs <= 1:
            raise ConfigError(f"target MACs {self.target_macs!r} is outside (0, 1]; it is a fraction of the MACs")
        if self.max_accuracy_drop is not None and not 0 <= self.max_accuracy_drop <= 100:
            raise ConfigError(f"max accuracy drop {self.max_accuracy_drop!r} is not accepted; use points in [0, 100]")
        for name in ("step_blocks", "patience", "calibration_batches", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name.replace('_', ' ')} {getattr(self, name)!r} is not accepted; use >= 1")
        if self.sparsify_l1 <= 0:
            raise ConfigError(f"sparsify L1 {self.sparsify_l1!r} is not accepted; use a positive number")
        if self.finetune_epochs < 0 or self.step_epochs < 0 or self.sparsify_epochs < 0:
            raise ConfigError("fine-tune epochs must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class QuantMode(StrEnum):
    FP32 = "fp32"  # the float model, converted as it is
    FP16 = "fp16"  # float16 weights (TFLite dequantizes them on CPU, GPUs run them natively)
    DYNAMIC = "dynamic"  # int8 weights, float activations quantized on the fly: no calibration data needed
    INT8 = "int8"  # full-integer post-training quantization, calibrated on representative training images
    QAT = "qat"  # quantization-aware fine-tuning (tfmot), then full-integer conversion


class ExportFormat(StrEnum):
    TFLITE = "tflite"
    ONNX = "onnx"


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


INTEGER_MODES = (QuantMode.INT8, QuantMode.QAT)  # modes that need representative (calibration) data
ONNX_OPSETS = range(13, 19)  # tf2onnx 1.17 converts opsets 13-18; 19+ fail


def _parse_tuple(enum: type[E], values: Any, what: str) -> tuple[E, ...]:
    """A tuple of members from an iterable or a comma-separated string; empty is an error."""
    items = values.split(",") if isinstance(values, str) else list(values)
    parsed = tuple(dict.fromkeys(parse_enum(enum, str(v).strip(), what) for v in items if str(v).strip()))
    if not parsed:
        raise ConfigError(f"no {what} given (received {values!r}); accepted: {', '.join(m.value for m in enum)}")
    return parsed


@dataclass(frozen=True)
class QuantizeConfig:
    """How to quantize: calibration data, granularity, integer I/O, QAT fine-tuning, weight sparsity."""

    representative_count: int = 200  # training images for calibration (TFLite int8, ONNX static, debugger)
    per_channel: bool = True  # per-tensor weights for accelerators that need them
    io_type: IoType = IoType.INT8
    calibration: CalibrationMethod = CalibrationMethod.MINMAX
    activation_type: ActivationType = ActivationType.UINT8
    # ONNX: 7-bit weights. u8 x s8 products summed in int16 saturate on x86 CPUs without VNNI (AVX2, AVX-512):
    # ResNet-20 here lost 4.3 points with full-range weights and 0.4 with reduced range, at the same speed.
    reduce_range: bool = True
    qat_epochs: int = 2
    qat_lr: float = 1e-3
    weight_sparsity: float | None = None  # > 0: magnitude-prune weights to this sparsity before QAT (PQAT)
    batch_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "io_type", parse_enum(IoType, self.io_type, "I/O type"))
        object.__setattr__(self, "calibration", parse_enum(CalibrationMethod, self.calibration, "calibration"))
        object.__setattr__(self, "activation_type", parse_enum(ActivationType, self.activation_type, "activation"))
        if self.representative_count < 0:
            raise ConfigError(f"representative count {self.representative_count!r} is negative; use >= 1")
        if self.qat_epochs < 1:
            raise ConfigError(f"QAT epochs {self.qat_epochs!r} is not accepted; use an integer >= 1")
        if self.qat_lr <= 0:
            raise ConfigError(f"QAT learning rate {self.qat_lr!r} is not accepted; use a positive number")
        if self.weight_sparsity is not None and not 0 < self.weight_sparsity < 1:
            raise ConfigError(f"weight sparsity {self.weight_sparsity!r} is outside (0, 1); it is a fraction")

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.value if isinstance(v, StrEnum) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class ExportConfig:
    """Which artifacts to write and the checks each must pass before it is called valid."""

    formats: tuple[ExportFormat, ...] = (ExportFormat.TFLITE, ExportFormat.ONNX)
    modes: tuple[QuantMode, ...] = (QuantMode.FP32, QuantMode.FP16, QuantMode.DYNAMIC, QuantMode.INT8)
    opset: int = 17
    float_agreement: float = 99.5  # % top-1 agreement with Keras for fp32 / fp16
    int8_agreement: float = 97.0  # % for dynamic / int8 / qat
    int8_max_drop: float = 1.0  # accuracy points below Keras for dynamic / int8 / qat
    layer_report: bool = True  # per-layer error of int8 artifacts
    layer_report_top: int = 10

    def __post_init__(self) -> None:
        object.__setattr__(self, "formats", _parse_tuple(ExportFormat, self.formats, "format"))
        object.__setattr__(self, "modes", _parse_tuple(QuantMode, self.modes, "mode"))
        if self.opset not in ONNX_OPSETS:
            raise ConfigError(f"opset {self.opset!r} is not accepted; tf2onnx converts opsets 13-18")
        for name in ("float_agreement", "int8_agreement"):
            if not 0 <= getattr(self, name) <= 100:
                raise ConfigError(f"{name.replace('_', ' ')} {getattr(self, name)!r} is not a percentage in [0, 100]")
        if not 0 <= self.int8_max_drop <= 100:
            raise ConfigError(f"int8 max drop {self.int8_max_drop!r} is not accepted; use points in [0, 100]")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["formats"] = [f.value for f in self.formats]
        d["modes"] = [m.value for m in self.modes]
        return d


@dataclass(frozen=True)
class BenchConfig:
    """How latency is measured: batch 1, interleaved rounds, for each thread count (0 = all cores)."""

    threads: tuple[int, ...] = (1, 0)
    warmup: int = 10
    rounds: int = 100
    budget_s: float | None = None  # stop a thread count's measurement after this many seconds
    provider: str = "cpu"  # ONNX Runtime execution provider: cpu, cuda, tensorrt
    deploy_size: int | None = None  # build: also time each architecture at this input size (latency only)
    confidence: float = 0.95
    resamples: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "threads", tuple(int(t) for t in self.threads))
        if not self.threads or min(self.threads) < 0:
            raise ConfigError(f"threads {list(self.threads)} are not accepted; give counts >= 1, or 0 for all cores")
        if self.rounds < 5 or self.warmup < 0:
            raise ConfigError(f"rounds {self.rounds!r} / warm-up {self.warmup!r}: use >= 5 rounds, >= 0 warm-up")
        if not 0.5 <= self.confidence < 1:
            raise ConfigError(f"confidence {self.confidence!r} is not accepted; use a level in [0.5, 1)")
        if self.deploy_size is not None and (not isinstance(self.deploy_size, int) or self.deploy_size < 32):
            raise ConfigError(f"deploy size {self.deploy_size!r} is not accepted; use an input size >= 32 pixels")
        if self.provider not in ("cpu", "cuda", "tensorrt"):
            raise ConfigError(f"provider {self.provider!r} is not accepted; use one of: cpu, cuda, tensorrt")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["threads"] = list(self.threads)
        return d


MODEL_KEYS = ("depth", "variant", "version", "shortcut", "plain", "input_size", "channels", "zero_init_residual")
BUILD_IMAGENET_SIZE = 64  # build's default input for ImageNet depths: 224 trains for hours on a 2-core CPU


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

    SECTIONS = ("model", "data", "train", "prune", "quantize", "export", "bench")

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
        sections = {}
        for name, kind in (("model", ModelConfig), ("data", DataConfig), ("train", TrainConfig),
                           ("quantize", QuantizeConfig), ("export", ExportConfig), ("bench", BenchConfig)):  # fmt: skip
            sections[name] = _section(kind, raw.get(name), name, getattr(base, name))
        prune = raw.get("prune")
        if prune in (False, "none", "off"):
            sections["prune"] = None
        else:
            sections["prune"] = _prune_section(prune, base.prune)
        return cls(**sections)

    def to_dict(self) -> dict[str, Any]:
        model = {k: v for k, v in self.model.to_dict().items() if k in MODEL_KEYS}
        return {"model": model, "data": asdict(self.data), "train": self.train.to_dict(),
                "prune": self.prune.to_dict() if self.prune else "none", "quantize": self.quantize.to_dict(),
                "export": self.export.to_dict(), "bench": self.bench.to_dict()}  # fmt: skip


def _prune_section(raw: Any, base: PruneConfig | None) -> PruneConfig | None:
    if raw is None:
        return base
    base = base or PruneConfig(max_accuracy_drop=1.0)
    if isinstance(raw, dict) and any(raw.get(k) is not None for k in ("threshold", "target_macs", "max_accuracy_drop")):
        base = replace(base, max_accuracy_drop=1.0, threshold=None, target_macs=None)
        raw = {"max_accuracy_drop": None, "threshold": None, "target_macs": None, **raw}  # the mode comes from raw
    return _section(PruneConfig, raw, "prune", base)
