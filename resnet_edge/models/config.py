"""One ResNet of the zoo, as a typed, frozen value: `ModelConfig(depth=20)` is CIFAR ResNet-20.

A config resolves the defaults its depth implies when it is made (variant, version, shortcut, input size,
classes) and rejects what it cannot build with a ConfigError that echoes the value received.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from resnet_edge.errors import ConfigError
from resnet_edge.models import specs
from resnet_edge.settings import enum_values, parse_enum, setting


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

    depth: int = setting(20, "Depth: 18, 34, 50, 101, 152 (ImageNet), 6n+2 / 9n+2 (CIFAR).")
    variant: Variant | None = setting(None, "Default: imagenet for 18-152, else cifar.")
    version: Version | None = setting(None, "imagenet: v1|v1.5 (default v1.5); cifar: v1 (6n+2)|v2 (9n+2).")
    shortcut: Shortcut | None = setting(None, "A zero-pad, B projection (default: B ImageNet and v2, A CIFAR v1).")
    plain: bool = setting(False, "The twin without skip connections.", flag="--plain")
    input_size: int | None = setting(None, "Input height = width (>= 32); default 224 ImageNet, 32 CIFAR.")
    channels: int = setting(3, "1 (grayscale) or 3 (RGB).")
    classes: int | None = setting(None, "Number of classes (default 1000 ImageNet, 10 CIFAR; train: the data's).")
    blocks: tuple[int, ...] | None = setting(None, "Blocks per stage (a depth-pruned model).", cli=False)
    shortcut_only: tuple[int, ...] = setting((), "Stages whose first block is its shortcut alone.", cli=False)
    residual_l1: float | None = setting(None, "Learnable residual scales with this L1 penalty.", cli=False)
    input_mean: tuple[float, ...] | None = setting(None, "Per channel, raw pixel units (in the model).", cli=False)
    input_std: tuple[float, ...] | None = setting(None, "Per channel standard deviation.", cli=False)
    zero_init_residual: bool = setting(False, "Each residual branch's last BN starts at gamma 0.", cli=False)

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
        return enum_values(asdict(self))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelConfig:
        """The inverse of to_dict (lists back to tuples); a ConfigError for unknown keys or wrong types."""
        unknown = sorted(set(raw) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"unknown key {unknown[0]!r}; accepted: {', '.join(cls.__dataclass_fields__)}")
        raw = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
        try:
            return cls(**raw)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"model options {raw} have a value of the wrong type ({exc})") from None
