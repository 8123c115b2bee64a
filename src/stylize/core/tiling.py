"""Cutting an image into overlapping tiles whose statistics add up to the whole image's.

A ``Window`` is a crop of the image (a tile plus a halo of context on every side, clipped
at the image's edges) and the pixels the crop owns (the tile). Each term of the objective
takes, from a crop's features, only the positions its tile owns: every position of the
whole image is owned by exactly one tile, so statistics summed over tiles are the whole
image's. With a halo as wide as the network's receptive field the features of owned
positions are the whole image's too, and so is the gradient: a tiled evaluation is the
untiled one, computed in pieces.

Two passes give the exact gradient (``value_and_grad``): the first sums every tile's
statistics without autograd, fixing the loss and its gradient with respect to those
sums; the second runs each crop forward and backward with that gradient and adds the
crop's image gradient, halo included, into one full-size buffer. The first pass's last
crop keeps its graph and opens the second, so n crops cost 2n - 1 forward passes, and
the first pass leaves out the terms whose gradient needs no sums (a loss linear in its
statistics, as the content's) and the layers only they read.

Tiles come in any grid of rows and columns (``plan_grid``): plan.py picks the one with
the least work that fits the memory, often strips across a wide image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch

OnTile = Optional[Callable[[int, int], None]]  # (tiles done, tiles in the evaluation)


@dataclass(frozen=True)
class Window:
    """A crop of an image of ``height`` x ``width`` px and the pixels it owns.

    ``top``, ``left``: the crop's origin; ``bottom``, ``right``: its end (exclusive).
    ``inner``: (y0, y1, x0, x1), the owned pixels. All in whole-image px; every origin and
    inner edge that is not the image's edge is a multiple of the network's total stride,
    so pooling windows line up with the whole image's.
    """

    top: int
    left: int
    bottom: int
    right: int
    inner: tuple[int, int, int, int]
    height: int
    width: int

    @classmethod
    def whole(cls, height: int, width: int) -> "Window":
        return cls(0, 0, height, width, (0, height, 0, width), height, width)

    def inside(self, stride: int, shape) -> tuple[slice, slice]:
        """The owned positions of the crop's (fh, fw) map at a layer of total ``stride``."""
        y0, y1, x0, x1 = self.inner
        return (_span(y0, y1, self.top, self.height, stride, shape[0]),
                _span(x0, x1, self.left, self.width, stride, shape[1]))

    def inside_whole(self, stride: int, shape) -> tuple[slice, slice]:
        """The same positions in the whole image's map (to crop a whole-image target)."""
        rows, cols = self.inside(stride, shape)
        dy, dx = self.top // stride, self.left // stride
        return slice(rows.start + dy, rows.stop + dy), slice(cols.start + dx, cols.stop + dx)

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., self.top:self.bottom, self.left:self.right]


def _span(start: int, stop: int, origin: int, end: int, stride: int, size: int) -> slice:
    """Owned px [start, stop) of a crop from ``origin`` -> positions of its map at ``stride``.

    A tile that reaches the image's end owns the map to its end: the network's own rounding
    (floor for VGG's pooling, ceil for ResNet's padded convs) then matches the whole image's.
    """
    return slice((start - origin) // stride, size if stop == end else (stop - origin) // stride)


@dataclass(frozen=True)
class TilePlan:
    """How one scale's image is cut: a grid of tiles with a ``halo`` px border, ``tile`` px at most."""

    height: int
    width: int
    tile: int  # the longest side a tile owns: the style image's passes are cut no larger
    halo: int
    windows: tuple[Window, ...]

    @property
    def tiled(self) -> bool:
        return len(self.windows) > 1

    @property
    def largest_tile(self) -> tuple[int, int]:
        """(height, width) of the largest pixels a tile owns (tiles are cut nearly equal)."""
        return max(((w.inner[1] - w.inner[0], w.inner[3] - w.inner[2]) for w in self.windows),
                   key=lambda hw: hw[0] * hw[1])

    @property
    def largest_crop(self) -> tuple[int, int]:
        crop = max(self.windows, key=lambda w: (w.bottom - w.top) * (w.right - w.left))
        return crop.bottom - crop.top, crop.right - crop.left


def whole(height: int, width: int) -> TilePlan:
    return TilePlan(height, width, max(height, width), 0, (Window.whole(height, width),))


def plan_tiles(height: int, width: int, tile: int, halo: int, step: int) -> TilePlan:
    """Tiles of at most ``tile`` px a side, equal in size, with edges on multiples of ``step``."""
    tile = max(step, tile // step * step)
    return plan_grid(height, width, math.ceil(height / tile), math.ceil(width / tile), halo, step)


def plan_grid(height: int, width: int, rows: int, cols: int, halo: int, step: int) -> TilePlan:
    """``rows`` x ``cols`` tiles, as equal as cuts on multiples of ``step`` allow.

    Tiles need not be square: strips across a wide image carry halo on fewer sides.
    """
    halo = math.ceil(halo / step) * step
    ys, xs = _cuts(height, rows, step), _cuts(width, cols, step)
    if len(ys) == 2 and len(xs) == 2:
        return whole(height, width)
    windows = []
    for y0, y1 in zip(ys, ys[1:]):
        for x0, x1 in zip(xs, xs[1:]):
            windows.append(Window(max(0, y0 - halo), max(0, x0 - halo), min(height, y1 + halo),
                                  min(width, x1 + halo), (y0, y1, x0, x1), height, width))
    tile = max(max(b - a for a, b in zip(ys, ys[1:])), max(b - a for a, b in zip(xs, xs[1:])))
    return TilePlan(height, width, tile, halo, tuple(windows))


def _cuts(length: int, parts: int, step: int) -> list[int]:
    """[0, ..., length] in ``parts`` as equal as cuts on multiples of ``step`` allow (fewer if too short)."""
    inner = [round(i * length / parts / step) * step for i in range(1, parts)]
    inner = sorted({c for c in inner if 0 < c < length})
    return [0, *inner, length]


def accumulate(statistics: Callable, x: torch.Tensor, windows, on_tile: OnTile = None,
               done: int = 0, total: int = 0, summed=None) -> list[dict[str, torch.Tensor]]:
    """Σ over ``windows`` of ``statistics(crop, window)`` (added to ``summed``), without autograd."""
    with torch.no_grad():
        for i, window in enumerate(windows):
            stats = statistics(window.crop(x), window)
            summed = stats if summed is None else _add(summed, stats)
            if on_tile is not None:
                on_tile(done + i + 1, total or len(windows))
    return summed


def _add(summed: list[dict], stats: list[dict]) -> list[dict]:
    return [_add_sums(a, b) for a, b in zip(summed, stats)]


def _add_sums(a: dict, b: dict) -> dict:
    """One term's sums plus another crop's, without the crops' graphs."""
    return {k: a[k].detach() + b[k].detach() for k in a}


def value_and_grad(objective, x: torch.Tensor, plan: TilePlan, on_tile: OnTile = None):
    """(loss terms, d total / d x) of the whole image, by tiles when the plan has several.

    ``objective`` gives ``statistics(crop, window, first_pass)`` per term and ``losses(summed
    stats)``. The first pass sums only the terms that are not linear in their statistics (a
    linear one's gradient is fixed without them), through the network only as deep as they
    read. The last crop of pass 1 runs whole, with autograd, and its graph serves as the first
    crop of pass 2: one forward pass of the 2n saved, at no extra peak (one crop's graph, as
    pass 2 holds). The linear terms' sums come from pass 2.
    """
    if not plan.tiled:
        image = x.detach().requires_grad_(True)
        losses = objective(image)
        losses["total"].backward()
        return {k: v.detach() for k, v in losses.items()}, image.grad
    n = len(plan.windows)
    *others, last = plan.windows
    first = lambda crop, window: objective.statistics(crop, window, first_pass=True)  # noqa: E731
    summed = accumulate(first, x, others, on_tile, 0, 2 * n)  # pass 1: the sums that fix the gradient,
    deferred = [not s for s in summed]  # (a linear term's: summed in pass 2)
    kept_crop = last.crop(x).detach().requires_grad_(True)  # and the last crop's, every term's, with its graph
    kept_stats = objective.statistics(kept_crop, last)
    summed = [_add_sums(s, k) if s else {key: v.detach() for key, v in k.items()} for s, k in zip(summed, kept_stats)]
    if on_tile is not None:
        on_tile(n, 2 * n)
    leaves = [{k: v.detach().requires_grad_(v.is_floating_point()) for k, v in s.items()} for s in summed]
    objective.losses(leaves)["total"].backward()  # d loss / d each sum, fixed for pass 2 (a linear term's at any sums)
    upstream = [{k: v.grad for k, v in s.items() if v.grad is not None} for s in leaves]
    grad = torch.zeros_like(x)
    for i, window in enumerate([last, *others]):  # pass 2: each crop's share of the gradient
        if window is last:
            crop, stats, kept_crop, kept_stats = kept_crop, kept_stats, None, None
        else:
            crop = window.crop(x).detach().requires_grad_(True)
            stats = objective.statistics(crop, window)
            summed = [_add_sums(s, t) if later else s for s, t, later in zip(summed, stats, deferred)]
        surrogate = sum((g * s[k]).sum() for s, u in zip(stats, upstream) for k, g in u.items())
        surrogate.backward()
        window.crop(grad).add_(crop.grad)
        if on_tile is not None:
            on_tile(n + i + 1, 2 * n)
    with torch.no_grad():
        losses = objective.losses(summed)
    return {k: v.detach() for k, v in losses.items()}, grad


def feature_map(features: Callable, x: torch.Tensor, plan: TilePlan, layer: str, stride: int) -> torch.Tensor:
    """The whole image's feature map at ``layer``, assembled from the owned part of each crop."""
    pieces = []
    with torch.no_grad():
        for window in plan.windows:
            f = features(window.crop(x))[layer]
            rows, cols = window.inside(stride, f.shape[-2:])
            piece = f[..., rows, cols]
            pieces.append((window.inside_whole(stride, f.shape[-2:]), piece.float() if piece.dtype == torch.bfloat16 else piece))
    h = max(r.stop for (r, _), _ in pieces)
    w = max(c.stop for (_, c), _ in pieces)
    first = pieces[0][1]
    out = first.new_zeros(*first.shape[:-2], h, w)
    for (rows, cols), piece in pieces:
        out[..., rows, cols] = piece
    return out

