"""Depth pruning: score every residual block, remove the ones that do least into a genuinely shallower net.

A block computes H(x) = F(x) + x. Two scores per block, on real data:
- the residual energy ratio ||F(x)||^2 / ||x||^2, averaged over calibration images from the training set;
- the validation accuracy drop when that block alone is removed (an ablation, Veit et al. 2016). Removal is
  exact by zeroing the branch's last BatchNorm (gamma = beta = 0): F(x) = 0 and the block is the identity.
Ratios alone rarely reach zero in an ordinary ResNet (0.24-1.14 for a ResNet-56 here), so the selection
modes rank by the ablation drop and then by the ratio, and the accuracy-budget mode checks the real
accuracy after every step. Removed blocks disappear from the graph: the pruned model is rebuilt from the
depth spec with fewer blocks per stage and the surviving weights are copied across by name.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from resnet_edge import metrics
from resnet_edge._tf import keras
from resnet_edge.config import BenchConfig, Decision, LatencyTarget, PruneConfig, TrainConfig
from resnet_edge.console import console
from resnet_edge.data import Dataset
from resnet_edge.errors import ConfigError
from resnet_edge.fsutil import read_record, write_json
from resnet_edge.models.config import ModelConfig
from resnet_edge.models.flops import count_keras
from resnet_edge.models.io import MODEL, save_keras, save_model_config
from resnet_edge.models.resnet import build_resnet, copy_weights_by_name
from resnet_edge.plotting import pyplot, save_figure
from resnet_edge.prune.latency import LatencyProbe, Timed, block_costs
from resnet_edge.train import Lessons, teacher_copy

PRUNE_LOG = "prune.json"
_ADD = re.compile(r"^stage(\d+)_block(\d+)_add$")


class PruneError(ConfigError):
    """A model that cannot be depth-pruned (no addressable residual blocks), or a bad removal request."""


@dataclass(frozen=True)
class BlockScore:
    name: str
    stage: int
    block: int
    identity: bool  # input and output shapes agree: the block can be removed (else: reduced to its shortcut)
    residual_ratio: float
    accuracy_drop: float  # validation points lost when this block's residual branch alone is removed
    macs: int
    params: int


@dataclass(frozen=True)
class PruneStep:
    step: int
    removed: tuple[str, ...]  # blocks removed at this step (names in the unpruned model)
    blocks: tuple[int, ...]
    depth: int
    params: int
    macs: int
    val_accuracy: float
    accepted: bool
    p50_ms: float | None = None  # on the latency runtime (PruneLog.latency), measured interleaved with the unpruned
    val: dict[str, Any] | None = None  # metrics.Rate: accuracy with n and its Wilson interval (validation)
    val_drop: dict[str, Any] | None = None  # metrics.PairedDifference: unpruned minus this step, same images
    escape_increase: dict[str, Any] | None = None  # this step's escape rate minus the unpruned one's (validation)
    test: dict[str, Any] | None = None  # the same on the test split: reported, never used to decide
    test_drop: dict[str, Any] | None = None
    latency_ratio: dict[str, float] | None = None  # p50 / the unpruned model's, interleaved: median, low, high
    finetune_epochs: int | None = None  # epochs the step was fine-tuned (quick_epochs, or all of step_epochs)
    elapsed_s: float | None = None  # seconds since the search began, when the step was judged

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PruneStep:
        raw = {("p50_ms" if k == "tflite_p50_ms" else k): v for k, v in raw.items()}  # logs before the runtime choice
        return cls(**{**raw, "removed": tuple(raw["removed"]), "blocks": tuple(raw["blocks"])})


@dataclass(frozen=True)
class PruneLog:
    """prune.json: every step of the search (or the one-shot removal) and which one was kept."""

    base_accuracy: float
    chosen_step: int
    config: dict[str, Any]
    steps: tuple[PruneStep, ...]
    warning: str | None = None  # e.g. a validation split too small to resolve the budget
    latency: dict[str, Any] | None = None  # runtime, threads, size; with a target: goal, block costs, outcome
    seconds: dict[str, float] | None = None  # where the search's time went, by phase, and in all

    @property
    def chosen(self) -> PruneStep:
        return next(s for s in self.steps if s.step == self.chosen_step)

    @property
    def unpruned(self) -> PruneStep:
        return next(s for s in self.steps if s.step == 0)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "steps": [asdict(s) for s in self.steps]}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PruneLog:
        steps = tuple(PruneStep.from_dict(s) for s in raw["steps"])
        log = cls(float(raw["base_accuracy"]), int(raw["chosen_step"]), dict(raw["config"]), steps, raw.get("warning"),
                  raw.get("latency"), raw.get("seconds"))  # fmt: skip
        if not {0, log.chosen_step} <= {s.step for s in steps}:
            raise ValueError(f"no step 0 or no chosen step {log.chosen_step}")
        return log

    @classmethod
    def read(cls, path: Path) -> PruneLog | None:
        """The log prune wrote at `path` (None when absent); one line for a file of another shape."""
        return read_record(path, "`resnet-edge prune` (or build)", cls.from_dict)


@dataclass(frozen=True)
class PruneResult:
    model_path: Path
    model_config: ModelConfig
    base_accuracy: float
    final_accuracy: float
    base_macs: int
    final_macs: int
    removed: tuple[str, ...]
    steps: tuple[PruneStep, ...]
    scores: tuple[BlockScore, ...]

    @property
    def chosen(self) -> PruneStep:
        """The step whose model was kept (the last accepted one)."""
        return max((s for s in self.steps if s.accepted), key=lambda s: s.step)


# ------------------------------------------------------------------------------------------------ blocks
def residual_blocks(model: keras.Model) -> list[tuple[int, int, str]]:
    """(stage, block, name) of every residual block, in order; a PruneError if there is none."""
    found = sorted((int(m[1]), int(m[2])) for m in (_ADD.match(layer.name) for layer in model.layers) if m)
    if not found:
        raise PruneError(
            f"model '{model.name}' has no addressable residual blocks (layers named stage<S>_block<B>_add); "
            "prune works on residual networks built by resnet-edge"
        )
    return [(s, b, f"stage{s}_block{b}") for s, b in found]


def _branch_tensors(model: keras.Model, name: str) -> tuple[Any, Any]:
    """(shortcut, residual) tensors that the block's Add sums."""
    shortcut, residual = model.get_layer(f"{name}_add").input
    return shortcut, residual


def _is_identity(model: keras.Model, name: str) -> bool:
    names = {layer.name for layer in model.layers}
    return f"{name}_shortcut_conv" not in names and f"{name}_shortcut_pad" not in names


def _branch_end(model: keras.Model, name: str) -> keras.layers.Layer:
    """The last layer of F(x): a BatchNorm (v1 blocks) or a convolution (pre-activation blocks)."""
    return _branch_tensors(model, name)[1]._keras_history.layer


def zero_residual(model: keras.Model, name: str) -> list[np.ndarray]:
    """Make F(x) exactly 0 for block `name`; returns the old weights of the layer changed."""
    layer = _branch_end(model, name)
    old = layer.get_weights()
    if isinstance(layer, keras.layers.BatchNormalization):  # gamma and beta (scale, center) to zero
        new = [np.zeros_like(w) if v.name.split("/")[-1].split(":")[0] in ("gamma", "beta") else w
               for w, v in zip(old, layer.weights, strict=True)]  # fmt: skip
    else:
        new = [np.zeros_like(w) for w in old]
    layer.set_weights(new)
    return old


def fold_residual_scales(model: keras.Model, config: ModelConfig) -> tuple[keras.Model, ModelConfig]:
    """The same function without ResidualScale layers: each scale multiplies its branch's last BatchNorm
    (gamma and beta) or convolution (kernel and bias), which is exact because both are affine."""
    folded_config = replace(config, residual_l1=None)
    folded = build_resnet(folded_config)
    copy_weights_by_name(model, folded)
    for _, _, name in residual_blocks(model):
        scale_layer = model.get_layer(f"{name}_scale")
        s = float(scale_layer.get_weights()[0])
        end = folded.get_layer(scale_layer.input._keras_history.layer.name)
        weights = end.get_weights()
        if isinstance(end, keras.layers.BatchNormalization):
            kinds = [v.name.split("/")[-1].split(":")[0] for v in end.weights]
            weights = [w * s if k in ("gamma", "beta") else w for w, k in zip(weights, kinds, strict=True)]
        else:
            weights = [w * s for w in weights]
        end.set_weights(weights)
    return folded, folded_config


def residual_scales(model: keras.Model) -> dict[str, float]:
    return {name: float(model.get_layer(f"{name}_scale").get_weights()[0]) for _, _, name in residual_blocks(model)}


def _sparsify(model, model_config, data, config: PruneConfig, out: Path):
    """Train with L1-penalised residual scales, then fold them: blocks that did little end near zero."""
    sparse_config = replace(model_config, residual_l1=config.sparsify_l1)
    sparse = _finetune(model, sparse_config, data, config, config.sparsify_epochs, out=out / "sparsify")
    scales = residual_scales(sparse)
    write_json(out / "residual_scales.json", scales)
    near_zero = sorted(n for n, s in scales.items() if abs(s) < 0.01)
    console.print(f"sparsify: {len(near_zero)} of {len(scales)} residual scales below 0.01 {near_zero}")
    return fold_residual_scales(sparse, sparse_config)


# ---------------------------------------------------------------------------------------------- scoring
def residual_ratios(model: keras.Model, images: np.ndarray, batch_size: int = 64) -> dict[str, float]:
    """Mean over samples of ||F(x)||^2 / ||x||^2 for every block (x: what the shortcut carries)."""
    blocks = residual_blocks(model)
    outputs = [t for _, _, name in blocks for t in _branch_tensors(model, name)]
    probe = keras.Model(model.input, outputs)
    sums = np.zeros(len(blocks))
    for start in range(0, len(images), batch_size):
        outs = probe.predict_on_batch(images[start : start + batch_size].astype("float32"))
        for i in range(len(blocks)):
            x, f = outs[2 * i].reshape(len(outs[0]), -1), outs[2 * i + 1].reshape(len(outs[0]), -1)
            sums[i] += np.sum((f**2).sum(1) / np.maximum((x**2).sum(1), 1e-12))
    return {name: float(s / len(images)) for (_, _, name), s in zip(blocks, sums, strict=True)}


def score_blocks(
    model: keras.Model,
    data: Dataset,
    *,
    calibration: int = 256,
    validation: int | None = None,
    known: dict[str, float] | None = None,
) -> list[BlockScore]:
    """Residual ratio (on `calibration` training images) and ablation drop (on the validation images); blocks
    whose drop is `known` (by name) keep it and are not ablated again."""
    known = known or {}
    rng = np.random.default_rng(0)
    calib = data.x_train[rng.choice(len(data.x_train), min(calibration, len(data.x_train)), replace=False)]
    x_val, y_val = (
        (data.x_val, data.y_val) if validation is None else (data.x_val[:validation], data.y_val[:validation])
    )
    ratios = residual_ratios(model, calib)
    blocks = residual_blocks(model)
    base = val_accuracy(model, x_val, y_val) if any(n not in known for _, _, n in blocks) else 0.0
    per_block = {b.name: b for b in count_keras(model).blocks}
    scores = []
    for stage, block, name in blocks:
        identity = _is_identity(model, name)
        drop = known.get(name)
        if drop is None:  # zeroing F(x) is exactly removing an identity block, or reducing a down-sampling one
            old = zero_residual(model, name)
            drop = base - val_accuracy(model, x_val, y_val)
            _branch_end(model, name).set_weights(old)
        g = per_block[name]
        scores.append(BlockScore(name, stage, block, identity, ratios[name], drop, g.macs, g.params))
    return scores


def predict_classes(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Top-1 classes (int [N]): what accuracies, paired differences and escape rates are computed from."""
    return metrics.top1(model.predict(x.astype("float32"), batch_size=256, verbose=0))


def val_accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy in % (what block scoring ranks by)."""
    return metrics.accuracy(predict_classes(model, x), y)


def removal_order(scores: list[BlockScore], downsample: bool = False) -> list[BlockScore]:
    """Removable blocks, the least useful first: smallest ablation drop, then smallest residual ratio.
    Down-sampling blocks join (to be reduced to their shortcut) only when `downsample`."""
    candidates = (s for s in scores if s.identity or downsample)
    return sorted(candidates, key=lambda s: (round(s.accuracy_drop, 6), s.residual_ratio))


# ---------------------------------------------------------------------------------------------- removal
def remove_blocks(
    model: keras.Model, config: ModelConfig, names: set[str], *, downsample: bool = False
) -> tuple[keras.Model, ModelConfig]:
    """A shallower model without the blocks `names`; surviving weights copied, blocks renumbered per stage.

    A down-sampling block (one that changes the shape) is reduced to its shortcut when `downsample`: it keeps
    its number and its shortcut weights, and loses its residual branch.
    """
    blocks = residual_blocks(model)
    known = {name for _, _, name in blocks}
    unknown, reshaping = names - known, {n for n in names & known if not _is_identity(model, n)}
    if unknown:
        raise PruneError(f"blocks {sorted(unknown)} are not in model '{model.name}'")
    if reshaping and not downsample:
        raise PruneError(f"blocks {sorted(reshaping)} change the shape (down-sampling); pass --prune-downsample to "
                         "reduce them to their shortcut")  # fmt: skip
    current = config.blocks or config.default_blocks
    kept: dict[int, list[int]] = {s: [] for s in range(1, len(current) + 1)}
    for stage in config.shortcut_only:  # earlier reductions keep their place as block 1
        kept[stage].append(1)
    for stage, block, name in blocks:
        if name not in names or name in reshaping:
            kept[stage].append(block)
    new_config = replace(
        config,
        blocks=tuple(len(kept[s]) for s in sorted(kept)),
        shortcut_only=tuple(sorted({*config.shortcut_only, *(s for s, _, n in blocks if n in reshaping)})),
    )
    pruned = build_resnet(new_config)
    rename = {f"stage{s}_block{old}_": f"stage{s}_block{new}_" for s in kept for new, old in enumerate(kept[s], 1)}
    target_names = {layer.name for layer in pruned.layers}
    for layer in model.layers:
        target = layer.name
        m = re.match(r"^(stage\d+_block\d+_)(.*)$", target)
        if m:
            if m[1] not in rename:
                continue  # a removed block
            target = rename[m[1]] + m[2]
        if layer.weights and target in target_names:  # absent: the branch of a block reduced to its shortcut
            pruned.get_layer(target).set_weights(layer.get_weights())
    return pruned, new_config


def cost_variants(
    model: keras.Model, config: ModelConfig, removable: dict[int, list[str]]
) -> dict[int, tuple[keras.Model, ModelConfig, int]]:
    """Per stage, the model without that stage's removable blocks (one kept where they are all the stage has,
    like CIFAR stage 1) and how many went: what a block's latency cost is measured on."""
    blocks = config.blocks or config.default_blocks
    variants = {}
    for stage, names in removable.items():
        gone = names[: blocks[stage - 1] - 1] if len(names) >= blocks[stage - 1] else names
        if gone:
            variants[stage] = (*remove_blocks(model, config, set(gone)), len(gone))
    return variants


# --------------------------------------------------------------------------------------------- plotting
def plot_scores(scores: list[BlockScore], path: Path) -> None:
    plt = pyplot()

    fig, (ax_r, ax_d) = plt.subplots(2, 1, figsize=(max(8, 0.35 * len(scores)), 6), sharex=True)
    x = np.arange(len(scores))
    colors = [f"C{s.stage - 1}" for s in scores]
    ax_r.bar(x, [s.residual_ratio for s in scores], color=colors)
    ax_r.set(ylabel="||F(x)||² / ||x||²", title="residual energy per block (colour: stage)")
    ax_d.bar(x, [0 if np.isnan(s.accuracy_drop) else s.accuracy_drop for s in scores], color=colors)
    for i, s in enumerate(scores):
        if not s.identity:
            ax_d.text(i, 0, "ds", ha="center", va="bottom", fontsize=7)
    ax_d.set(ylabel="accuracy drop if removed (points)", xlabel="block (ds: down-sampling, kept)")
    ax_d.set_xticks(x, [f"{s.stage}.{s.block}" for s in scores], rotation=90, fontsize=7)
    for ax in (ax_r, ax_d):
        ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path)


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both cost (lower) and accuracy (higher), by cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -np.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def plot_pareto(steps: list[PruneStep], chosen: int, path: Path, runtime: str = "TFLite fp32, 2 threads") -> None:
    """Validation accuracy (95 % interval) against the latency ratio to the unpruned model on `runtime` (measured
    interleaved, with its interval) and against MACs; the Pareto frontier joined, rejected steps hollow. Search
    order is not drawn: it says nothing about the trade-off."""
    plt = pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, label in ((axes[0], f"latency / unpruned ({runtime}, interleaved)"), (axes[1], "MACs (M)")):
        pts = [s for s in steps if label.startswith("MACs") or s.latency_ratio is not None]
        if not pts:
            continue
        xs = [s.macs / 1e6 if label.startswith("MACs") else s.latency_ratio["median"] for s in pts]
        ys = [s.val_accuracy for s in pts]
        for x, y, s in zip(xs, ys, pts, strict=True):
            yerr = [[y - s.val["low"]], [s.val["high"] - y]] if s.val else None
            xerr = None
            if not label.startswith("MACs"):
                xerr = [[x - s.latency_ratio["low"]], [s.latency_ratio["high"] - x]]
            style = {"mfc": "C0" if s.accepted else "white", "mec": "C0", "ecolor": "0.6", "capsize": 2}
            ax.errorbar(x, y, yerr=yerr, xerr=xerr, fmt="o", **style)
            ax.annotate(f"d{s.depth}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        front = pareto_front(list(zip(xs, ys, strict=True)))
        ax.plot([xs[i] for i in front], [ys[i] for i in front], "-", color="C1", alpha=0.7, label="Pareto frontier")
        for x, y, s in zip(xs, ys, pts, strict=True):
            if s.step == 0:
                ax.plot(x, y, "s", color="C2", ms=9, label="unpruned")
            if s.step == chosen:
                ax.plot(x, y, "*", color="C3", ms=15, label="chosen")
        ax.set(xlabel=label, ylabel="validation accuracy (%), 95 % interval")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("depth pruning: accuracy against latency and MACs (hollow: rejected steps)")
    save_figure(fig, path)


# ------------------------------------------------------------------------------------------------ prune
def _finetune(model: keras.Model, model_config: ModelConfig, data: Dataset, prune: PruneConfig, epochs: int,
              teacher: keras.Model | None = None, out: Path | None = None, lessons: Lessons | None = None
              ) -> keras.Model:  # fmt: skip
    """`model` fine-tuned for `epochs` (cosine from `finetune_lr`), distilled from `teacher` if given. A search
    step (no `out`) is fine-tuned in place, lean; a one-shot removal's long fine-tune is a training run in `out`
    (history, best epoch on validation, resumable)."""
    from resnet_edge.train import finetune, has_run, train

    if epochs == 0:
        return model
    config = _step_training(prune, data, epochs)
    if out is None:
        return finetune(model, data, config, teacher, lessons)
    result = train(model_config, data, config, out=out, initial_model=model, teacher=teacher, resume=has_run(out),
                   reports=False)  # fmt: skip
    from resnet_edge.models.io import load_keras

    return load_keras(result.model_path)


def _step_training(prune: PruneConfig, data: Dataset, epochs: int) -> TrainConfig:
    # min_accuracy 0: the search judges a step's accuracy itself; a failed step is undone, not an error
    return TrainConfig(recipe="cosine", epochs=epochs, lr=prune.finetune_lr, seed=prune.seed,
                       batch_size=min(prune.batch_size, len(data.x_train)), min_accuracy=0.0)  # fmt: skip


def _step(k: int, removed: list[str], model: keras.Model, config: ModelConfig, verdict: Verdict, accepted: bool
          ) -> PruneStep:  # fmt: skip
    count = count_keras(model)
    escape = verdict.escape_increase.to_dict() if verdict.escape_increase else None
    return PruneStep(k, tuple(removed), config.arch.blocks, config.arch.depth, count.params, count.macs,
                     verdict.rate.value, accepted, val=verdict.rate.to_dict(), val_drop=verdict.drop.to_dict(),
                     escape_increase=escape)  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    """A model judged on the validation split against the unpruned model's predictions on the same images."""

    rate: metrics.Rate
    drop: metrics.PairedDifference  # unpruned accuracy minus this model's, points
    escape_increase: metrics.PairedDifference | None  # this model's escape rate minus the unpruned one's
    kept: bool
    why: str


def judge(pred: np.ndarray, base_pred: np.ndarray, data: Dataset, config: PruneConfig) -> Verdict:
    """Accept or reject by the stated rule: the accuracy drop (point estimate, or the upper end of its paired 95 %
    interval with decision=upper) within max_accuracy_drop, and the escape-rate increase within
    max_escape_increase when one is set."""
    y = data.y_val
    rate = metrics.accuracy_rate(pred, y)
    drop = metrics.PairedDifference.of(base_pred == y, pred == y)
    budget = config.max_accuracy_drop if config.max_accuracy_drop is not None else float("inf")
    measured = drop.high if config.decision is Decision.UPPER else drop.value
    why = [] if measured <= budget else [f"accuracy drop {measured:.2f} > {budget:g} points"]
    escape = None
    if data.good is not None:
        escape = metrics.escape_increase(base_pred, pred, y, data.good)
        if config.max_escape_increase is not None:
            measured = escape.high if config.decision is Decision.UPPER else escape.value
            if measured > config.max_escape_increase:
                why.append(f"escape rate +{measured:.2f} > {config.max_escape_increase:g} points")
    return Verdict(rate, drop, escape, not why, "; ".join(why))


def _select(scores: list[BlockScore], prune: PruneConfig, base_macs: int) -> list[str]:
    if prune.threshold is not None:
        return [s.name for s in scores if (s.identity or prune.prune_downsample) and s.residual_ratio < prune.threshold]
    chosen, macs = [], base_macs
    for s in removal_order(scores, prune.prune_downsample):  # target MACs: the least useful until under budget
        if macs <= prune.target_macs * base_macs:
            break
        chosen.append(s.name)
        macs -= s.macs
    return chosen


def _resolution_warning(base_pred: np.ndarray, data: Dataset, config: PruneConfig) -> str | None:
    """Before the search: a warning when the validation split cannot resolve the accuracy budget, i.e. the paired
    95 % interval of a drop is expected to be wider (half-width) than the budget. Two models' disagreement is
    assumed to be about the unpruned model's error rate (measured on pruned ResNet-20/56 here: 0.6-1.2 times)."""
    if config.max_accuracy_drop is None or config.max_accuracy_drop <= 0:
        return None
    n = len(data.y_val)
    disagreement = max(1.0 - float(np.mean(base_pred == data.y_val)), 1.0 / n)
    half = metrics.paired_half_width(disagreement, n)
    if half <= config.max_accuracy_drop:
        return None
    need = metrics.images_to_resolve(config.max_accuracy_drop, disagreement)
    return (f"the validation split ({n} images) resolves accuracy drops to about +-{half:.1f} points, wider than "
            f"the {config.max_accuracy_drop:g}-point budget: about {need} validation images would resolve it "
            f"(--val-data, or a larger --val-split); decisions use the {config.decision.value} rule")  # fmt: skip


def prune(
    model: keras.Model, model_config: ModelConfig, data: Dataset, config: PruneConfig, *, out: str | Path
) -> PruneResult:
    """Score, remove, fine-tune; writes block_scores.json/.png, prune.json, pareto.png and model.keras to `out`.

    Every decision is made on the validation split, paired against the unpruned model's predictions; each step
    is then also measured on the test split (reported only). Latency is measured on `config.target_runtime`,
    interleaved with the unpruned model; with `target_latency` the search removes blocks until it is met. The
    input model is never modified: scoring restores every weight it zeroes, removal builds a new model.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    residual_blocks(model)  # a clear error before any work on a model without blocks
    if config.max_escape_increase is not None and data.good is None:
        raise ConfigError(f"--max-escape-increase needs a pass class; data '{data.source}' has none named good, ok "
                          f"or pass (classes: {', '.join(data.class_names)}): give --good-class")  # fmt: skip
    clock = Stopwatch()
    base_pred = predict_classes(model, data.x_val)
    base = judge(base_pred, base_pred, data, config)
    base_macs = count_keras(model).macs
    warning = _resolution_warning(base_pred, data, config)
    if warning:
        console.print(f"[yellow]warning: {warning}[/yellow]", soft_wrap=True)
    original, original_config = model, model_config
    if config.sparsify_epochs:
        model, model_config = _sparsify(model, model_config, data, config, out)
    with clock("score"):
        scores = score_blocks(model, data, calibration=config.calibration_batches * config.batch_size)
    write_json(out / "block_scores.json", [asdict(s) for s in scores])
    plot_scores(scores, out / "block_scores.png")
    steps = [_step(0, [], original, original_config, base, True)]
    console.print(f"unpruned: depth {original_config.arch.depth}, {base_macs / 1e6:.2f} M MACs, validation "
                  f"accuracy {base.rate.text()}")  # fmt: skip
    search = _Search(data, config, base_pred, steps, out, original, original_config, clock)
    if config.target_latency is not None:
        with clock("latency"):
            search.aim(model, model_config, scores)
    if config.max_accuracy_drop is None and config.target_latency is None:
        current, current_config, removed = search.one_shot(model, model_config, scores, base_macs)
    else:
        current, current_config, removed = search.run(model, model_config, scores)
    chosen = max(s.step for s in steps if s.accepted)
    with clock("test split"):
        steps = _on_test(steps, search.models, data)
    with clock("latency"):
        steps = _measure_latency(steps, search.models, search.configs, search.probe)
    model_path = save_keras(current, out / MODEL)
    save_model_config(out, current_config)
    final_acc = next(s.val_accuracy for s in steps if s.step == chosen)
    log = PruneLog(base.rate.value, chosen, config.to_dict(), tuple(steps), warning,
                   search.latency_record(next(s for s in steps if s.step == chosen)), clock.seconds())  # fmt: skip
    write_json(out / PRUNE_LOG, log.to_dict())
    plot_pareto(steps, chosen, out / "pareto.png", search.probe.label)
    if log.latency and log.latency.get("outcome"):
        console.print(log.latency["outcome"], soft_wrap=True)
    return PruneResult(model_path, current_config, base.rate.value, final_acc, base_macs, count_keras(current).macs,
                       tuple(removed), tuple(steps), tuple(scores))  # fmt: skip


class Stopwatch:
    """Seconds spent per phase of the search (`with clock("fine-tune"):`), and in all since it was made."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._phases: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self._phases[phase] = self._phases.get(phase, 0.0) + time.perf_counter() - start

    def elapsed(self) -> float:
        return round(time.perf_counter() - self._start, 1)

    def seconds(self) -> dict[str, float]:
        total = time.perf_counter() - self._start
        return {**{k: round(v, 1) for k, v in self._phases.items()}, "total": round(total, 1)}


def _on_test(steps: list[PruneStep], models: dict[int, keras.Model], data: Dataset) -> list[PruneStep]:
    """Every step's accuracy and paired drop on the test split: reported next to validation, never decided on."""
    base = predict_classes(models[0], data.x_test) == data.y_test
    out = []
    for s in steps:
        correct = predict_classes(models[s.step], data.x_test) == data.y_test if s.step in models else None
        if correct is None:
            out.append(s)
            continue
        rate = metrics.Rate.of(int(correct.sum()), len(correct))
        out.append(replace(s, test=rate.to_dict(), test_drop=metrics.PairedDifference.of(base, correct).to_dict()))
    return out


@dataclass(frozen=True)
class _Aim:
    """A latency target resolved against the unpruned model: the ratio to reach and what each block costs."""

    goal: LatencyTarget
    ratio: float  # target p50 / the unpruned model's p50
    base_ms: float  # the unpruned model's p50 on the target runtime
    costs: dict[int, float]  # stage -> ms one removable block of that stage costs


class _Search:
    """The removal steps: one shot (threshold, target MACs) or the budgeted search; every step lands in `steps`."""

    def __init__(self, data: Dataset, config: PruneConfig, base_pred: np.ndarray, steps: list[PruneStep], out: Path,
                 original: keras.Model, original_config: ModelConfig, clock: Stopwatch) -> None:  # fmt: skip
        self.data, self.config, self.base_pred, self.steps, self.out = data, config, base_pred, steps, out
        self.models: dict[int, keras.Model] = {0: original}
        self.configs: dict[int, ModelConfig] = {0: original_config}
        self.teacher = teacher_copy(original) if config.distill else None
        self._lessons: Lessons | None | bool = False  # drawn at the first step (None: too large to keep)
        self.clock = clock
        self.probe = LatencyProbe(config, data, out / "latency")
        self.aimed: _Aim | None = None
        self.reached: Timed | None = None  # the last accepted step's latency (with a target)
        self.stopped_by = ""  # why the search ended, when a target was not met

    # -------------------------------------------------------------------------------- latency target
    def aim(self, model: keras.Model, model_config: ModelConfig, scores: list[BlockScore]) -> None:
        """Time the unpruned model on the target runtime and what a block of each stage costs there."""
        goal = LatencyTarget.parse(self.config.target_latency)
        self.probe.artifact("step0", self.models[0], self.configs[0])
        base_ms = self.probe.measure(["step0"])["step0"].p50_ms
        removable: dict[int, list[str]] = {}
        for s in removal_order(scores, self.config.prune_downsample):
            removable.setdefault(s.stage, []).append(s.name)
        costs = block_costs(self.probe, cost_variants(model, model_config, removable), "step0")
        self.aimed = _Aim(goal, goal.ratio(base_ms), base_ms, costs)
        console.print(f"latency target {goal} on {self.probe.label}: the unpruned model takes {base_ms:.3f} ms, the "
                      f"target is {self.aimed.ratio:.3f}x of it; one block costs "
                      + ", ".join(f"{ms:.3f} ms (stage {s})" for s, ms in sorted(costs.items())),
                      soft_wrap=True)  # fmt: skip

    def _met(self) -> bool:
        if self.aimed is None:
            return False
        ratio = self.reached.ratio.median if self.reached else 1.0
        return ratio <= self.aimed.ratio

    def _order(self, scores: list[BlockScore], origin: dict[str, str], set_aside: set[str]) -> list[BlockScore]:
        """Candidates, best first: least useful (removal_order), or with a target the least accuracy lost per
        millisecond saved (a block that costs nothing to remove: the one that saves most first)."""
        order = [b for b in removal_order(scores, self.config.prune_downsample) if origin[b.name] not in set_aside]
        if self.aimed is None:
            return order
        cost = {b.name: max(self.aimed.costs.get(b.stage, 0.0), 1e-6) for b in order}
        return sorted(order, key=lambda b: (round(b.accuracy_drop, 6) / cost[b.name], -cost[b.name],
                                            b.residual_ratio))  # fmt: skip

    def _needed(self, order: list[BlockScore]) -> int:
        """How many candidates (in order) the measured costs say reach the target: a step removes no more."""
        if self.aimed is None:
            return len(order)
        ratio = self.reached.ratio.median if self.reached else 1.0
        to_save, saved = (ratio - self.aimed.ratio) * self.aimed.base_ms, 0.0
        for n, b in enumerate(order, 1):
            saved += self.aimed.costs.get(b.stage, 0.0)
            if saved >= to_save:
                return n
        return len(order)

    def _time_step(self, k: int, model: keras.Model, model_config: ModelConfig) -> None:
        with self.clock("latency"):
            self.probe.artifact(f"step{k}", model, model_config)
            self.reached = self.probe.measure(["step0", f"step{k}"])[f"step{k}"]
        r = self.reached.ratio
        console.print(f"  latency {r.median:.3f}x [{r.low:.3f}, {r.high:.3f}] of the unpruned model "
                      f"(target {self.aimed.ratio:.3f}x)")  # fmt: skip

    def _rescore(self, model: keras.Model, scores: list[BlockScore], order: list[BlockScore], batch: list[str],
                 before: dict[str, str], after: dict[str, str]) -> list[BlockScore]:  # fmt: skip
        """Scores of `model`, the one an accepted step left. Only the candidates next in line (the
        `rescore_window` first of the previous order, the removed blocks aside) are ablated again: a removal
        changes the scores near the top, and the search takes from the top; the other blocks keep their last
        ablation drop. `before` and `after` map the old and the new model's block names to the unpruned one's."""
        window = self.config.rescore_window
        nearest = {before[b.name] for b in [b for b in order if b.name not in batch][:window]} if window else None
        renamed = {unpruned: name for name, unpruned in after.items()}
        known = {renamed[before[s.name]]: s.accuracy_drop for s in scores
                 if before[s.name] in renamed and nearest is not None and before[s.name] not in nearest}  # fmt: skip
        return score_blocks(model, self.data, calibration=self.config.calibration_batches * self.config.batch_size,
                            validation=min(len(self.data.x_val), 500), known=known)  # fmt: skip

    def latency_record(self, chosen: PruneStep) -> dict[str, Any]:
        """prune.json's latency section: where latency was measured and, with a target, how the search ended."""
        record: dict[str, Any] = {"runtime": self.probe.runtime.value, "threads": self.probe.threads,
                                  "size": self.probe.size or self.configs[0].input_size}  # fmt: skip
        if self.aimed is None:
            return record
        achieved = chosen.latency_ratio or {"median": 1.0, "low": 1.0, "high": 1.0}
        met = achieved["median"] <= self.aimed.ratio  # in the final joint measurement
        binding = "latency target" if self._met() else self.stopped_by or "no removable block left"
        record.update(target=str(self.aimed.goal), target_ratio=self.aimed.ratio, unpruned_p50_ms=self.aimed.base_ms,
                      block_costs_ms={f"stage{s}": ms for s, ms in self.aimed.costs.items()}, achieved=achieved,
                      met=met, binding=binding)  # fmt: skip
        ratio = f"{achieved['median']:.3f}x [{achieved['low']:.3f}, {achieved['high']:.3f}]"
        record["outcome"] = (
            f"latency target {self.aimed.goal} met: {ratio} of the unpruned model at depth {chosen.depth}" if met else
            f"latency target {self.aimed.goal} ({self.aimed.ratio:.3f}x) not met: {record['binding']} binds first; "
            f"reached {ratio} at depth {chosen.depth}"
        )  # fmt: skip
        if self._met() and not met:  # the search's own timing met it; the joint one, of every step, did not
            record["outcome"] += (
                f" (timed alone with the unpruned model during the search: {self.reached.ratio.median:.3f}x)"
            )
        return record

    # -------------------------------------------------------------------------------------- steps
    def _try(self, k: int, model: keras.Model, config: ModelConfig, names: list[str], epochs: int,
             label: list[str], quick: int = 0, out: Path | None = None
             ) -> tuple[keras.Model, ModelConfig, Verdict]:  # fmt: skip
        """Remove `names`, fine-tune, judge on validation; recorded as step k (removed blocks named `label`).
        With `quick` < `epochs`, the step is fine-tuned `quick` epochs and judged first; only a step over budget
        then gets the remaining epochs (their own schedule, from where the first left off) and a second verdict.
        With `out`, the fine-tune is a training run there (a one-shot removal's)."""
        candidate, candidate_config = remove_blocks(model, config, set(names), downsample=self.config.prune_downsample)
        first = min(quick, epochs) if quick else epochs
        candidate, verdict = self._tune_and_judge(candidate, candidate_config, first, out)
        used = first
        if not verdict.kept and first < epochs:
            candidate, verdict = self._tune_and_judge(candidate, candidate_config, epochs - first)
            used = epochs
        self.steps.append(replace(_step(k, label, candidate, candidate_config, verdict, verdict.kept),
                                  finetune_epochs=used, elapsed_s=self.clock.elapsed()))  # fmt: skip
        self.models[k], self.configs[k] = candidate, candidate_config
        return candidate, candidate_config, verdict

    def _tune_and_judge(self, model: keras.Model, config: ModelConfig, epochs: int, out: Path | None = None
                        ) -> tuple[keras.Model, Verdict]:  # fmt: skip
        with self.clock("fine-tune"):
            lessons = self.lessons() if out is None else None
            model = _finetune(model, config, self.data, self.config, epochs, self.teacher, out, lessons)
        with self.clock("judge"):
            return model, judge(predict_classes(model, self.data.x_val), self.base_pred, self.data, self.config)

    def lessons(self) -> Lessons | None:
        """The search's distillation batches and teacher logits, drawn once (train.Lessons)."""
        if self._lessons is False:
            self._lessons = None
            if self.teacher is not None:
                training = _step_training(self.config, self.data, self.config.step_epochs)
                self._lessons = Lessons.draw(self.data, training, self.teacher, self.config.step_epochs)
        return self._lessons  # type: ignore[return-value]

    def one_shot(self, model: keras.Model, config: ModelConfig, scores: list[BlockScore], base_macs: int
                 ) -> tuple[keras.Model, ModelConfig, list[str]]:  # fmt: skip
        names = _select(scores, self.config, base_macs)
        if not names:
            return model, config, []
        candidate, candidate_config, _ = self._try(1, model, config, names, self.config.finetune_epochs, names,
                                                   out=self.out / "finetune")  # fmt: skip
        self.steps[-1] = replace(self.steps[-1], accepted=True)  # a one-shot removal is what was asked for
        return candidate, candidate_config, names

    def run(self, model: keras.Model, config: ModelConfig, scores: list[BlockScore]
            ) -> tuple[keras.Model, ModelConfig, list[str]]:  # fmt: skip
        """Remove `step_blocks` at a time, fine-tune briefly, re-score, while within the budgets (and, with a
        latency target, until it is met).

        A step over budget is recorded and undone: a multi-block step is retried with its first block alone, a
        single block is set aside and the next candidate is tried; `patience` rejections in a row end the search.
        """
        accepted: dict[int, tuple[Any, ModelConfig, list[str]]] = {0: (model, config, [])}  # step -> state
        try:
            self._loop(model, config, scores, accepted)
        except KeyboardInterrupt:  # Ctrl-C ends the search: the last accepted step is measured and saved as usual
            console.print("[yellow]search interrupted: keeping the last accepted step[/yellow]")
            self.stopped_by = "the interruption (Ctrl-C)"
        return accepted[max(accepted)]

    def _loop(self, model: keras.Model, model_config: ModelConfig, scores: list[BlockScore],
              accepted: dict[int, tuple[Any, ModelConfig, list[str]]]) -> None:  # fmt: skip
        config = self.config
        current, current_config, removed = model, model_config, []
        # names in the current (renumbered) model -> names in the unpruned one, for the report
        origin = {name: name for _, _, name in residual_blocks(model)}
        set_aside: set[str] = set()  # unpruned-model names of blocks whose removal broke the budget
        size, rejections, k, why = config.step_blocks, 0, 0, ""
        while rejections < config.patience and not self._met():
            order = self._order(scores, origin, set_aside)
            if not order:
                break
            batch = [b.name for b in order[: min(size, self._needed(order))]]
            k += 1
            label = [origin[n] for n in batch]
            candidate, candidate_config, verdict = self._try(k, current, current_config, batch, config.step_epochs,
                                                             label, config.quick_epochs)  # fmt: skip
            console.print(f"step {k}: removed {', '.join(label)} -> depth {candidate_config.arch.depth}, validation "
                          f"{verdict.rate.value:.2f} %, drop {verdict.drop.text()} "
                          f"({'kept' if verdict.kept else 'undone: ' + verdict.why})", soft_wrap=True)  # fmt: skip
            if not verdict.kept:
                rejections, why = rejections + 1, verdict.why
                if len(batch) > 1:
                    size = 1  # retry the least useful block alone
                else:
                    set_aside.add(origin[batch[0]])
                continue
            rejections = 0
            removed += label
            before, origin = origin, _renumber(origin, current, current_config, batch)
            current, current_config = candidate, candidate_config
            accepted[k] = (current, current_config, list(removed))
            with self.clock("save"):  # every accepted step stays loadable: a point of the Pareto plot to deploy
                (self.out / f"step{k}").mkdir(exist_ok=True)
                save_keras(current, self.out / f"step{k}" / MODEL)
                save_model_config(self.out / f"step{k}", current_config)
            if self.aimed is not None:
                self._time_step(k, current, current_config)
                if self._met():
                    break
            with self.clock("score"):
                scores = self._rescore(current, scores, order, batch, before, origin)
        if rejections >= config.patience:
            self.stopped_by = f"the budget ({why}, {rejections} rejections in a row)"


def _renumber(origin: dict[str, str], model: keras.Model, config: ModelConfig, removed: list[str]) -> dict[str, str]:
    """Map the next model's block names to the unpruned model's, after `removed` left `model`."""
    new: dict[str, str] = {}
    per_stage = {s: 1 for s in config.shortcut_only}  # a bare shortcut keeps its place as block 1
    for stage, _, name in residual_blocks(model):
        if name in removed and _is_identity(model, name):
            continue
        per_stage[stage] = per_stage.get(stage, 0) + 1
        if name not in removed:
            new[f"stage{stage}_block{per_stage[stage]}"] = origin[name]
    return new


def _measure_latency(steps: list[PruneStep], models: dict[int, keras.Model], configs: dict[int, ModelConfig],
                     probe: LatencyProbe) -> list[PruneStep]:  # fmt: skip
    """The unpruned model and every accepted step on the latency runtime, measured interleaved in one run (the
    artifacts the search converted are reused): each step's p50 and its ratio to the unpruned model (median of
    per-round ratios, 95 % bootstrap interval), which is what the Pareto plot draws. Rejected steps are not
    timed: they are not candidates, and a conversion each would cost more than the rest of a small search."""
    names = {s.step: f"step{s.step}" for s in steps if s.accepted and s.step in models}
    for k, name in names.items():
        probe.artifact(name, models[k], configs[k])
    timed = probe.measure(list(names.values()), BenchConfig())
    return [replace(s, p50_ms=timed[names[s.step]].p50_ms, latency_ratio=asdict(timed[names[s.step]].ratio))
            if s.step in names else s for s in steps]  # fmt: skip
