"""The built-in synthetic inspection data set: textured industrial surfaces with and without defects.

Procedural and deterministic by seed, at any size. Each image is one surface of a random texture family
(brushed metal, woven fabric, cast/granular, painted), rotated and scaled at random, under a random
lighting gradient, with sensor noise and some blur. Class `good` has no defect; each other class has one
defect of its kind at a random place, size, orientation and contrast, faint ones included. Defects are
drawn at twice the size and area-averaged down, so thin lines stay smooth at 32 px.

Because a defect can be anywhere and the texture varies far more than the defect changes the image's
global statistics, a linear classifier on raw pixels stays near chance while a CNN learns the task; the
spread of contrasts (faint defects on busy textures) is what keeps depth useful.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from resnet_edge.errors import ConfigError
from resnet_edge.settings import setting

CLASSES = ("good", "scratch", "crack", "spot", "hole")
TEXTURES = ("brushed", "woven", "granular", "painted")


@dataclass(frozen=True)
class SynthSpec:
    size: int = setting(64, "Image height = width.")
    per_class: int = setting(1000, "Images per class (the built-in set's default, as training uses it).")
    seed: int = setting(0, "Seed: the same seed gives the same images.")
    channels: int = setting(3, "1 (grayscale) or 3 (RGB).")
    faint: float = setting(0.5, "Lowest defect contrast, as a fraction of the strongest.", cli=False)

    def __post_init__(self) -> None:
        if self.size < 8:
            raise ConfigError(f"image size {self.size!r} is too small; use an integer >= 8")
        if self.per_class < 1:
            raise ConfigError(f"per-class count {self.per_class!r} is not accepted; use an integer >= 1")
        if self.channels not in (1, 3):
            raise ConfigError(f"channels {self.channels!r} is not accepted; use 1 or 3")


Grid = tuple[np.ndarray, np.ndarray]  # (y, x) in [-1, 1], render resolution


def _grid(n: int) -> Grid:
    c = (np.arange(n, dtype=np.float32) + 0.5) / n * 2 - 1
    return np.meshgrid(c, c, indexing="ij")


def _smooth_noise(rng: np.random.Generator, n: int, cells: int) -> np.ndarray:
    """Value noise: a coarse random lattice upsampled bilinearly to n x n, zero mean, unit std."""
    lattice = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
    pos = np.linspace(0, cells, n, dtype=np.float32)
    i = np.minimum(pos.astype(int), cells - 1)
    f = pos - i
    rows = lattice[i] * (1 - f)[:, None] + lattice[i + 1] * f[:, None]
    out = rows[:, i] * (1 - f)[None, :] + rows[:, i + 1] * f[None, :]
    return (out - out.mean()) / (out.std() + 1e-6)


def _rotated(grid: Grid, angle: float, scale: float) -> Grid:
    y, x = grid
    c, s = np.cos(angle), np.sin(angle)
    return (c * y - s * x) * scale, (s * y + c * x) * scale


def _texture(rng: np.random.Generator, n: int, family: str) -> np.ndarray:
    """A zero-mean, unit-std surface pattern of one family, randomly rotated and scaled."""
    y, x = _rotated(_grid(n), rng.uniform(0, np.pi), rng.uniform(0.8, 1.25))
    if family == "brushed":  # streaks: noise stretched along one direction
        fine = np.sin(x * rng.uniform(40, 90) + 3 * _smooth_noise(rng, n, 3)) * 0.3
        streak = np.interp(x, np.linspace(-2, 2, 257), rng.standard_normal(257).astype(np.float32))
        t = streak + fine + 0.3 * _smooth_noise(rng, n, 4)
    elif family == "woven":  # two crossing thread families with irregular thickness
        f = rng.uniform(12, 22)
        t = np.sin(f * y) * np.sin(f * x) + 0.5 * np.sin(2 * f * y) + 0.4 * _smooth_noise(rng, n, 6)
    elif family == "granular":  # cast metal / concrete: multi-scale blobs
        t = sum(w * _smooth_noise(rng, n, c) for w, c in ((0.3, 4), (0.6, 10), (0.6, n // 4)))
    else:  # painted: smooth undulations with orange-peel grain
        t = _smooth_noise(rng, n, 3) + 0.35 * _smooth_noise(rng, n, n // 3)
    return (t - t.mean()) / (t.std() + 1e-6)


def _segment_distance(grid: Grid, p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """Distance of every pixel to each segment p0[k]-p1[k]; min over segments."""
    y, x = grid
    pts = np.stack([y, x], -1)[..., None, :]  # n, n, 1, 2
    d = p1 - p0
    t = np.clip(((pts - p0) * d).sum(-1) / ((d * d).sum(-1) + 1e-9), 0, 1)
    closest = p0 + t[..., None] * d
    return np.sqrt(((pts - closest) ** 2).sum(-1)).min(-1)


def _scratch(rng: np.random.Generator, grid: Grid) -> np.ndarray:
    center = rng.uniform(-0.5, 0.5, 2)
    angle, length = rng.uniform(0, np.pi), rng.uniform(0.6, 1.4)
    bend = rng.uniform(-0.15, 0.15)  # slightly curved: three segments along an arc
    ts = np.linspace(-0.5, 0.5, 4)[:, None]
    direction, normal = np.array([np.sin(angle), np.cos(angle)]), np.array([np.cos(angle), -np.sin(angle)])
    pts = center + ts * length * direction + (1 - 4 * ts**2) * bend * normal
    width = rng.uniform(0.03, 0.055)
    return np.exp(-((_segment_distance(grid, pts[:-1], pts[1:]) / width) ** 2))  # scratches catch the light


def _crack(rng: np.random.Generator, grid: Grid) -> np.ndarray:
    start = rng.uniform(-0.6, 0.6, 2)
    heading, steps = rng.uniform(0, 2 * np.pi), rng.integers(8, 14)
    pts = [start]
    for _ in range(steps):  # a jagged random walk that keeps its general direction
        heading += rng.normal(0, 0.7)
        pts.append(pts[-1] + rng.uniform(0.07, 0.13) * np.array([np.sin(heading), np.cos(heading)]))
    pts = np.array(pts)
    p0, p1 = pts[:-1], pts[1:]
    if rng.random() < 0.6:  # a branch from a point on the crack
        k = rng.integers(1, len(pts) - 1)
        h = heading + rng.choice([-1, 1]) * rng.uniform(0.6, 1.2)
        branch = [pts[k]]
        for _ in range(rng.integers(2, 5)):
            h += rng.normal(0, 0.6)
            branch.append(branch[-1] + rng.uniform(0.05, 0.1) * np.array([np.sin(h), np.cos(h)]))
        branch = np.array(branch)
        p0, p1 = np.concatenate([p0, branch[:-1]]), np.concatenate([p1, branch[1:]])
    width = rng.uniform(0.03, 0.05)
    return -np.exp(-((_segment_distance(grid, p0, p1) / width) ** 2))  # cracks are dark


def _spot(rng: np.random.Generator, grid: Grid) -> np.ndarray:
    y, x = _rotated(grid, rng.uniform(0, np.pi), 1.0)
    cy, cx = _rotated((np.array(rng.uniform(-0.6, 0.6)), np.array(rng.uniform(-0.6, 0.6))), 0, 1.0)
    ry, rx = rng.uniform(0.12, 0.25), rng.uniform(0.12, 0.25)
    r2 = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2
    return np.exp(-(r2**2)) * rng.choice([-1.0, 1.0])  # stains can be darker or lighter


def _hole(rng: np.random.Generator, grid: Grid) -> np.ndarray:
    y, x = grid
    cy, cx = rng.uniform(-0.65, 0.65, 2)
    r = rng.uniform(0.09, 0.16)
    d = np.sqrt((y - cy) ** 2 + (x - cx) ** 2) / r
    pit = -np.clip(1.2 - d, 0, 1)  # dark inside
    rim = 0.6 * np.exp(-(((d - 1.15) / 0.25) ** 2))  # bright rim where light catches the dent's edge
    lit = 0.5 * ((y - cy) * np.cos(1) + (x - cx) * np.sin(1)) / r * (d < 1.3)  # one-sided shading
    return pit + rim + np.clip(lit, -0.4, 0.4)


DEFECTS: dict[str, Callable[[np.random.Generator, Grid], np.ndarray]] = {
    "scratch": _scratch,
    "crack": _crack,
    "spot": _spot,
    "hole": _hole,
}


def _area_down(img: np.ndarray, f: int) -> np.ndarray:
    n = img.shape[0] // f
    return img.reshape(n, f, n, f, *img.shape[2:]).mean(axis=(1, 3))


def _blur(img: np.ndarray, amount: float) -> np.ndarray:
    """A 3-tap separable blur mixed in by `amount` (0 = sharp): lens softness."""
    k = np.array([amount / 2, 1 - amount, amount / 2], dtype=np.float32)
    pad = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")
    rows = k[0] * pad[:-2] + k[1] * pad[1:-1] + k[2] * pad[2:]
    return k[0] * rows[:, :-2] + k[1] * rows[:, 1:-1] + k[2] * rows[:, 2:]


def render(rng: np.random.Generator, label: str, size: int, channels: int = 3, faint: float = 0.35) -> np.ndarray:
    """One image (size x size x channels, uint8) of class `label`."""
    n = size * 2  # render at 2x, area-average down: smooth thin defects, no aliasing
    grid = _grid(n)
    family = TEXTURES[rng.integers(len(TEXTURES))]
    surface = _texture(rng, n, family) * rng.uniform(0.03, 0.08)  # texture contrast
    if label != "good":
        contrast = rng.uniform(faint, 1.0) * 0.45
        surface = surface + contrast * DEFECTS[label](rng, grid)
    y, x = grid
    light_angle = rng.uniform(0, 2 * np.pi)
    light = rng.uniform(0.0, 0.25) * (np.cos(light_angle) * y + np.sin(light_angle) * x)
    base = rng.uniform(0.3, 0.7)
    gray = base + light + surface
    tint = rng.uniform(0.85, 1.15, 3).astype(np.float32) if channels == 3 else np.ones(1, np.float32)
    img = _area_down(gray[..., None] * tint, 2)
    img = _blur(img, rng.uniform(0, 0.6))
    img = img + rng.normal(0, rng.uniform(0.005, 0.03), img.shape)  # sensor noise
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


def generate(spec: SynthSpec) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(images uint8 [N, size, size, channels], labels int32 [N], class names); classes interleaved.

    Image i depends only on (seed, i), so a larger `per_class` extends a smaller set with the same images.
    """
    count = spec.per_class * len(CLASSES)
    images = np.empty((count, spec.size, spec.size, spec.channels), np.uint8)
    labels = np.arange(count, dtype=np.int32) % len(CLASSES)
    for i in range(count):
        rng = np.random.default_rng([spec.seed, i])
        images[i] = render(rng, CLASSES[labels[i]], spec.size, spec.channels, spec.faint)
    return images, labels, CLASSES


def write_folder(spec: SynthSpec, out: str | Path) -> dict[str, int]:
    """Write the set as PNGs, one sub-folder per class; the folder appears complete or not at all."""
    from PIL import Image

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"output folder '{out}' already exists and is not empty; choose a new --out")
    images, labels, names = generate(spec)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        counts = {}
        for label, name in enumerate(names):
            (tmp / name).mkdir(parents=True)
            members = np.flatnonzero(labels == label)
            for k, i in enumerate(members):
                Image.fromarray(images[i].squeeze(-1) if spec.channels == 1 else images[i]).save(
                    tmp / name / f"{name}_{k:05d}.png"
                )
            counts[name] = len(members)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return counts
