"""Typed, frozen configurations and the closed choices they use.

A config resolves its defaults when it is made (so `ModelConfig(depth=20)` is a complete description of
CIFAR ResNet-20) and rejects what it cannot build with a ConfigError that echoes the value received.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
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
    weight_decay: float = 0.0

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
        if self.weight_decay < 0:
            raise ConfigError(f"weight decay {self.weight_decay!r} is negative; use a value >= 0")

    def _check_blocks(self) -> None:
        stages = len(self.default_blocks)
        if len(self.blocks) != stages or any(b < 1 for b in self.blocks):
            raise ConfigError(
                f"blocks {list(self.blocks)} do not fit a {stages}-stage network; "
                f"give {stages} counts, each >= 1 (the full model has {list(self.default_blocks)})"
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
            return specs.imagenet_spec(self.depth, blocks)
        return specs.cifar_spec(blocks, v2=self.version is Version.V2)

    @property
    def name(self) -> str:
        """`resnet56`, `plain20`, `resnet50_v1`: the model's name, from its effective depth."""
        family = "plain" if self.plain else "resnet"
        suffix = "_v1" if self.variant is Variant.IMAGENET and self.version is Version.V1 else ""
        suffix += "_v2" if self.version is Version.V2 else ""
        return f"{family}{self.arch.depth}{suffix}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["blocks"] = list(self.blocks) if self.blocks else None
        return {k: (v.value if isinstance(v, StrEnum) else v) for k, v in d.items()}
