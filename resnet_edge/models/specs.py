"""THE depth table: the single source of truth for every ResNet this toolkit builds.

ImageNet depths follow He et al. 2015, Table 1. CIFAR depths follow the paper's CIFAR section
(v1: 6n+2 layers, three stages of n basic blocks, 16/32/64 filters) and the pre-activation bottleneck
variant of the Keras CIFAR-10 example (v2: 9n+2 layers, bottleneck widths 16/64/128, outputs 64/128/256).
A pruned model is the same spec with fewer blocks in some stages.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class BlockKind(StrEnum):
    BASIC = "basic"
    BOTTLENECK = "bottleneck"
    PREACT_BOTTLENECK = "preact_bottleneck"


# depth -> (block kind, blocks per stage); torchvision's resnet.py reads the same way.
IMAGENET_DEPTHS: dict[int, tuple[BlockKind, tuple[int, ...]]] = {
    18: (BlockKind.BASIC, (2, 2, 2, 2)),
    34: (BlockKind.BASIC, (3, 4, 6, 3)),
    50: (BlockKind.BOTTLENECK, (3, 4, 6, 3)),
    101: (BlockKind.BOTTLENECK, (3, 4, 23, 3)),
    152: (BlockKind.BOTTLENECK, (3, 8, 36, 3)),
}
IMAGENET_WIDTHS = (64, 128, 256, 512)  # inner width of each stage; bottlenecks expand it 4x
CIFAR_V1_WIDTHS = (16, 32, 64)
CIFAR_V2_WIDTHS = (16, 64, 128)  # inner widths; outputs are 64, 128, 256 (the Keras example's v2)
CIFAR_V2_OUTPUTS = (64, 128, 256)
CIFAR_V1_LAYERS_PER_BLOCK = 6  # depth = 6n + 2: two convs per block, three stages
CIFAR_V2_LAYERS_PER_BLOCK = 9  # depth = 9n + 2: three convs per block, three stages

CONVS_PER_BLOCK = {BlockKind.BASIC: 2, BlockKind.BOTTLENECK: 3, BlockKind.PREACT_BOTTLENECK: 3}


@dataclass(frozen=True)
class StageSpec:
    blocks: int
    width: int  # filters of the inner convolutions
    out_channels: int  # channels leaving the stage
    stride: int  # stride of the stage's first block
    shortcut_only: bool = False  # the first (down-sampling) block is replaced by its shortcut alone


@dataclass(frozen=True)
class ArchSpec:
    """Everything `build_resnet` needs: resolved from a ModelConfig by its `arch` property."""

    block: BlockKind
    stages: tuple[StageSpec, ...]
    stem: str  # "imagenet" (7x7/2 conv + 3x3/2 max-pool) or "cifar" (3x3 conv, 16 filters)

    @property
    def blocks(self) -> tuple[int, ...]:
        return tuple(s.blocks for s in self.stages)

    @property
    def reshaping_stages(self) -> list[int]:
        """Stages (from 1) whose first block changes the shape: its shortcut is a projection or zero-pad."""
        channels = 64 if self.stem == "imagenet" else self.stages[0].width
        found = []
        for i, s in enumerate(self.stages, start=1):
            if s.stride > 1 or s.out_channels != channels:
                found.append(i)
            channels = s.out_channels
        return found

    @property
    def depth(self) -> int:
        """Weighted layers: convolutions on the main path plus the stem conv and the classifier."""
        replaced = sum(s.shortcut_only for s in self.stages)  # a bare shortcut is not on the main path
        return CONVS_PER_BLOCK[self.block] * (sum(self.blocks) - replaced) + 2


def cifar_n(depth: int, layers_per_block: int) -> int | None:
    """Blocks per stage for a CIFAR depth, or None when the depth does not fit `layers_per_block*n + 2`."""
    n, rest = divmod(depth - 2, layers_per_block)
    return n if rest == 0 and n >= 1 else None


def cifar_examples(layers_per_block: int, count: int = 6) -> str:
    return ", ".join(str(layers_per_block * n + 2) for n in range(1, count + 1)) + ", ..."


def imagenet_spec(depth: int, blocks: tuple[int, ...], shortcut_only: tuple[int, ...] = ()) -> ArchSpec:
    kind, _ = IMAGENET_DEPTHS[depth]
    expansion = 4 if kind is BlockKind.BOTTLENECK else 1
    stages = tuple(
        StageSpec(
            blocks=b,
            width=w,
            out_channels=w * expansion,
            stride=1 if i == 0 else 2,
            shortcut_only=i + 1 in shortcut_only,
        )
        for i, (b, w) in enumerate(zip(blocks, IMAGENET_WIDTHS, strict=True))
    )
    return ArchSpec(block=kind, stages=stages, stem="imagenet")


def cifar_spec(blocks: tuple[int, ...], v2: bool, shortcut_only: tuple[int, ...] = ()) -> ArchSpec:
    widths, outs = (CIFAR_V2_WIDTHS, CIFAR_V2_OUTPUTS) if v2 else (CIFAR_V1_WIDTHS, CIFAR_V1_WIDTHS)
    stages = tuple(
        StageSpec(blocks=b, width=w, out_channels=o, stride=1 if i == 0 else 2, shortcut_only=i + 1 in shortcut_only)
        for i, (b, w, o) in enumerate(zip(blocks, widths, outs, strict=True))
    )
    kind = BlockKind.PREACT_BOTTLENECK if v2 else BlockKind.BASIC
    return ArchSpec(block=kind, stages=stages, stem="cifar")
