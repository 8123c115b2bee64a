"""How each scale of a run is carried out, decided before any work: whole or in tiles, how
much L-BFGS history, the peak memory, and how long it will take.

Memory first: a scale runs whole when it fits the budget, with the longest L-BFGS history
that lets it; otherwise in the grid of tiles that fits with the least work (tiling.py: the
same objective and gradient, computed in pieces). Tiles cost time (each carries a halo as
wide as the network's receptive field, and a tiled evaluation makes an extra forward pass), the
history costs memory only: each remembered step is two copies of the image, gigabytes at
print sizes, while the result hardly depends on it (512 px, default run: objective 1.2428,
1.2404, 1.2393, 1.2440 with 100, 20, 10, 5 steps remembered; EPYC, bf16). So a tiled
scale takes the history that leaves room for the fewest pixel-evaluations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Optional

import torch

from ..config import SIZE_RANGE, StylizeConfig
from ..errors import BadInputError, opt
from ..net.features import truncated_body
from ..net.layers import deepest, halo, min_input_size, stride
from .memory import (
    activation_bytes,
    buffer_bytes,
    describe,
    fixed_bytes,
    history_bytes,
    network_bytes,
    style_pass_bytes,
    tiled_slack,
)
from .tiling import TilePlan, plan_grid, plan_tiles, whole

MIN_HISTORY = 5
MIN_TILE = 128  # px: below this a crop would be mostly halo
# What a scale costs besides one evaluation per iteration, in evaluations of its image: L-BFGS
# evaluates its starting point once more (31 evaluations in 30 iterations, 51 in 50: the strong
# Wolfe line search rarely needs a second), and the time outside evaluations (the scale's content
# and style targets, L-BFGS's arithmetic on image-sized vectors, the run's closing fp32
# evaluation) came to two to three and a half evaluations' time at 256 to 1024 px
# (benchmarks/phases.py: docs/benchmarks/phases-cpu.md; AMD EPYC, bf16). A flat 1.15 evaluations
# per iteration instead put a 10-iteration run 16% under and a 50-iteration one 5% over.
EXTRA_EVALUATIONS = 4
# A forward pass without autograd, as a share of a forward + backward: a tiled evaluation's first
# pass. Measured 0.46-0.49 on the EPYC (bf16, 256 to 2048 px), whose cost per pixel is flat from
# 0.2 to 2.8 MP (3.75, 3.36, 3.40 us at 512, 1024, 2048 px): the time model is linear in pixels.
# The first pass stops at the deepest style layer: times its share of the convolutions' work.
FORWARD_SHARE = 0.5


def schedule(cfg: StylizeConfig) -> list[tuple[int, int]]:
    """[(long edge, iterations), ...] from coarse to fine.

    Sizes halve from ``size`` down to no less than ``min_size``. The output size gets
    ``iterations``, every coarser scale ``coarse_iterations``, and the coarsest twice that:
    it starts from the photo and settles the layout, where an iteration costs least. Each
    finer scale starts from the photo at its size plus the last one's change, upsampled
    (optimize.next_start), and mostly adds detail, so
    a scale costs about a quarter of the next and the run's time grows with the output's
    pixels (docs/defaults.md: the schedules measured).
    """
    sizes = [cfg.size]
    while cfg.min_size and round(sizes[-1] / 2) >= max(cfg.min_size, SIZE_RANGE[0]):
        sizes.append(round(sizes[-1] / 2))
    sizes.reverse()
    coarse = [(s, cfg.coarse_iterations * (2 if i == 0 else 1)) for i, s in enumerate(sizes[:-1])]
    return coarse + [(cfg.size, cfg.iterations)]


@dataclass(frozen=True)
class Speed:
    """The time model's rates: one evaluation of a crop of p pixels takes per_pass + per_pixel * p s.

    A CPU is busy from small passes on (EPYC: 3.9 us per pixel at 256 px, 3.4 at 1024 px and
    beyond); a GPU is not: its fixed cost per pass is most of a small one, and a 256 px timing
    scaled by the pixels put an 8192 px run at 603 s that took 120 s (H200).
    """

    per_pass: float
    per_pixel: float

    @classmethod
    def fit(cls, small: tuple[int, float], large: tuple[int, float]) -> Speed:
        """The line through two (pixels, seconds) timings; where the larger pass took no longer
        (a device far from busy, or noise), its own cost per pixel, with no fixed part."""
        (p0, s0), (p1, s1) = small, large
        per_pixel = (s1 - s0) / (p1 - p0)
        if per_pixel <= 0:
            return cls(0.0, s1 / p1)
        return cls(max(0.0, s1 - per_pixel * p1), per_pixel)

    def seconds(self, passes: float, pixels: float) -> float:
        return passes * self.per_pass + pixels * self.per_pixel


@dataclass(frozen=True)
class ScalePlan:
    size: int  # long edge
    width: int
    height: int
    iterations: int
    history: int  # L-BFGS pairs remembered at this scale
    tiles: TilePlan
    peak: int  # estimated bytes at this scale's peak, the process included
    work: float  # pixel-evaluations of the network (forward + backward), weighted: the time model
    passes: float  # crop-evaluations, weighted the same way (each has a fixed cost on a GPU)

    @property
    def tiled(self) -> bool:
        return self.tiles.tiled

    @property
    def how(self) -> str:
        """'whole' or '3 tiles of 681x344 px (+48 px halo)' (height x width: the largest)."""
        if not self.tiled:
            return "whole"
        th, tw = self.tiles.largest_tile
        return f"{len(self.tiles.windows)} tiles of {th}x{tw} px (+{self.tiles.halo} px halo)"

    def with_iterations(self, iterations: int) -> ScalePlan:
        """The same scale run for ``iterations`` (a video's later frames: only the last scale)."""
        share = (iterations + EXTRA_EVALUATIONS) / (self.iterations + EXTRA_EVALUATIONS)
        return replace(self, iterations=iterations, work=self.work * share, passes=self.passes * share)

    def seconds(self, speed: Speed) -> float:
        return speed.seconds(self.passes, self.work)


@dataclass(frozen=True)
class RunPlan:
    scales: tuple[ScalePlan, ...]
    budget: Optional[int]  # None: no reading of the memory available, planned without a limit

    @property
    def peak(self) -> int:
        return max(s.peak for s in self.scales)

    def seconds(self, speed: Speed) -> float:
        """Estimated optimization time on a device of ``speed``."""
        return sum(s.seconds(speed) for s in self.scales)


def plan_run(cfg: StylizeConfig, photo: tuple[int, int], precision: str, device: torch.device,
             budget: Optional[int], loaded: bool = True, masks: int = 0) -> RunPlan:
    """Every scale's plan for a photo of ``photo`` = (w, h) px, within ``budget`` bytes.

    Raises BadInputError when some scale fits no plan, naming the memory it needs at least
    (``force`` runs the smallest plan anyway). ``budget`` None (this machine gave no reading):
    every scale is planned as if it fits, rather than refused for want of a figure.
    """
    from ..media.imageio import long_edge_dims

    layers = [*cfg.style_layers, cfg.content_layer]
    need = min_input_size(cfg.model, layers)
    fixed = fixed_bytes(cfg, device, loaded)
    scales = []
    for size, iterations in schedule(cfg):
        w, h = long_edge_dims(photo, size)
        if size != cfg.size and min(w, h) < need:
            continue  # a coarse scale too small for the network is left out
        limit = math.inf if budget is None else budget
        scale = _fit(cfg, size, w, h, iterations, precision, fixed, limit, masks)
        if scale.peak > limit and not cfg.force:
            raise BadInputError(
                f"{opt('size')} {cfg.size}: at {w}x{h} px the smallest plan ({scale.how}, history {scale.history})"
                f" needs about {describe(scale.peak)} of memory on {device}, more than the {describe(budget)}"
                f" {'allowed by ' + opt('max_memory') if cfg.max_memory else 'available'};"
                f" lower {opt('size')}" + ("" if cfg.max_memory else f" or pass {opt('force')}"), "size")
        scales.append(scale)
    return RunPlan(tuple(scales), budget)


def _work(tiles: TilePlan, iterations: int, first_pass: float = 1.0) -> tuple[float, float]:
    """(pixel-evaluations, crop-evaluations) one scale costs: every crop forward and backward, and
    all but the last forward once more, ``first_pass`` of the way (a tiled evaluation's first pass,
    tiling.value_and_grad)."""
    crops = [(w.bottom - w.top) * (w.right - w.left) for w in tiles.windows]
    evaluations = iterations + EXTRA_EVALUATIONS
    again = FORWARD_SHARE * first_pass
    return evaluations * (sum(crops) + again * sum(crops[:-1])), evaluations * (len(crops) + again * (len(crops) - 1))


@lru_cache(maxsize=32)
def convolution_share(model: str, upto: str, layers: tuple[str, ...]) -> float:
    """The share of a pass's convolution work (multiply-adds per input pixel) done by layer ``upto``,
    of a pass through the deepest of ``layers``. VGG19 to relu4_1 of one to relu4_2: 0.87, as timed
    (0.81 s of 0.94 s at 1024 px, EPYC). One pass on the meta device: no memory, no time."""
    body, names, _ = truncated_body(model, list(layers))
    side, work, done = 64, [], {}
    hooks = [m.register_forward_hook(lambda m, _, out: work.append(
        out.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups))
        for m in body.modules() if isinstance(m, torch.nn.Conv2d)]
    x = torch.empty(1, 3, side, side, device="meta")
    with torch.no_grad():
        for name, module in zip(names, body):
            x = module(x)
            done[name] = sum(work)
    for hook in hooks:
        hook.remove()
    return done[upto] / max(done[names[-1]], 1)


def scale_plan(cfg: StylizeConfig, size: int, dims: tuple[int, int], iterations: int, precision: str, fixed: int,
               masks: int, history: int, tiles: TilePlan) -> ScalePlan:
    """One scale of ``dims`` = (w, h) px run with ``history`` in ``tiles``: its peak memory and work."""
    w, h = dims
    ch, cw = tiles.largest_crop
    style_side = max(1, round(size * cfg.style_scale))
    side = min(style_side, max(ch, cw)) if tiles.tiled else style_side  # style crops: same tiles
    network = network_bytes(cfg, ch, cw, precision, masks)
    network += tiled_slack(network) if tiles.tiled else 0
    remembered = history_bytes(cfg, h, w, min(history, iterations), activation_bytes(cfg, ch, cw, precision))
    buffers = buffer_bytes(cfg, h, w, tiles.tiled, masks) + remembered
    peak = fixed + buffers + max(network, style_pass_bytes(cfg, side, side))
    upto = deepest(cfg.model, cfg.style_layers)  # as Objective.first_pass_upto: the style's
    first_pass = convolution_share(cfg.model, upto, (*cfg.style_layers, cfg.content_layer))
    return ScalePlan(size, w, h, iterations, history, tiles, int(peak), *_work(tiles, iterations, first_pass))


def _fit(cfg: StylizeConfig, size: int, w: int, h: int, iterations: int, precision: str, fixed: int,
         budget: float, masks: int = 0) -> ScalePlan:
    """The best plan for one scale that fits, or the smallest one there is (which does not)."""
    layers = [*cfg.style_layers, cfg.content_layer]
    step = max(stride(cfg.model, layer) for layer in layers)
    margin = halo(cfg.model, layers)

    def scale(history: int, tiles: TilePlan) -> ScalePlan:
        return scale_plan(cfg, size, (w, h), iterations, precision, fixed, masks, history, tiles)

    histories = [n for n in (cfg.history, 50, 20, 10, MIN_HISTORY) if n <= cfg.history]
    histories = list(dict.fromkeys(histories))
    if cfg.tile:
        candidates = [scale(n, plan_tiles(h, w, cfg.tile, margin, step)) for n in histories]
        return next((c for c in candidates if c.peak <= budget), candidates[-1])
    for history in histories:  # whole at any history beats every tiled plan
        plain = scale(history, whole(h, w))
        if plain.peak <= budget:
            return plain
    tiled = [plan for history in histories
             for plan in _fitting_grids(lambda grid: scale(history, grid), h, w, margin, step, budget)]
    # The fewest pixel-evaluations (fewer crops, less halo), then the longest history (min keeps the first).
    return min(tiled, key=lambda c: c.work) if tiled else scale(histories[-1], plan_tiles(h, w, MIN_TILE, margin, step))


def _fitting_grids(scale, h: int, w: int, margin: int, step: int, budget: float) -> list[ScalePlan]:
    """For each number of rows, the fewest columns whose tiles fit ``budget`` (more columns: more
    halo and more crops, so more work). Rows and columns of any count: strips across a wide
    image carry halo on two sides, not four (1024 px in 2 GiB: 3 strips cost 1.54 whole
    evaluations, 4 squares 1.65)."""
    most_rows, most_cols = max(1, h // MIN_TILE), max(1, w // MIN_TILE)
    found = []
    for rows in range(1, most_rows + 1):
        low, high = (2 if rows == 1 else 1), most_cols
        if low > high or scale(plan_grid(h, w, rows, high, margin, step)).peak > budget:
            continue
        while low < high:  # binary search: more columns, smaller crops, less memory
            mid = (low + high) // 2
            if scale(plan_grid(h, w, rows, mid, margin, step)).peak <= budget:
                high = mid
            else:
                low = mid + 1
        found.append(scale(plan_grid(h, w, rows, low, margin, step)))
    return found
