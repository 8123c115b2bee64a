"""The objective's terms, each a loss on statistics summed over the positions a crop owns.

The ``Term`` protocol is what the objective, its tiles and a video's frames rely on:

- ``statistics(features, image, window)``: sums over the positions ``window`` gives this
  crop (its features at every layer in use, and its pixels), as tensors with autograd;
- ``loss(stats)``: the weighted loss from those sums added over the whole image.

Sums split over any partition of the image, so one term serves the whole image and an
image cut into tiles (tiling.py) alike, and the tiled gradient is exact.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn

from .statistics import STYLE_DISTANCES, moment_sums, moments_of
from .tiling import Window

Stats = dict[str, torch.Tensor]


@runtime_checkable
class Term(Protocol):
    """One weighted part of the objective (see the module's docstring)."""

    name: str  # the loss it is reported under: "style" for every style layer and region
    layer: str | None  # the network layer it reads; None: the image's pixels
    reported: bool  # False: counted in "total" only, not reported on its own (RangeTerm)
    # True: the loss is its statistics times constants, so its gradient with respect to them is
    # known before they are summed, and a tiled evaluation's first pass can leave it out
    linear: bool

    def statistics(self, features: dict[str, torch.Tensor], image: torch.Tensor, window: Window) -> Stats: ...

    def loss(self, stats: Stats) -> torch.Tensor: ...


class ContentTerm(nn.Module):
    """Relative squared error to the content's features at one layer (Gatys et al.'s content loss)."""

    name, reported, linear = "content", True, True

    def __init__(self, layer: str, target: torch.Tensor, stride: int, weight: float):
        super().__init__()
        self.layer, self.stride, self.weight = layer, stride, weight
        self.register_buffer("target", target.detach())  # (1, C, Hf, Wf) of the whole image
        # relative_mse = sum((f - t)^2) / numel / mean(t^2): the denominator is the whole image's
        self.norm = 1.0 / (target.numel() * target.pow(2).mean().clamp_min(1e-12).item())

    def statistics(self, features: dict, image: torch.Tensor, window: Window) -> Stats:
        f = features[self.layer]
        piece, _ = owned(f, window, self.stride, None)
        trows, tcols = window.inside_whole(self.stride, f.shape[-2:])
        diff = piece - self.target[..., trows, tcols]
        return {"sq": diff.pow(2).sum()}

    def loss(self, stats: Stats) -> torch.Tensor:
        return self.weight * self.norm * stats["sq"]


class StyleTerm(nn.Module):
    """A style statistic at one layer: a distance between the features' moments and the style's.

    ``distance``: "gram" (Gatys et al.: second raw moments) or "wasserstein" (Gaussians fitted
    to the features, as in crowsonkb/style-transfer-pytorch). ``region``: the weight of each
    position of the whole image's map at this layer (regional style), None for everywhere.
    A region's moments are its own (divided by its weight), so a small sky is not diluted by
    the ground; its loss is then scaled by its share of the positions, so each pixel pulls as
    hard as in a run without masks, whatever the size of its region.
    """

    name, reported, linear = "style", True, False

    def __init__(self, layer: str, target: dict, stride: int, weight: float, distance: str = "gram",
                 region: torch.Tensor | None = None):
        super().__init__()
        self.layer, self.stride, self.weight, self.distance = layer, stride, weight, distance
        self.keys = list(target)  # statistics.style_target's tensors, fixed: buffers, so .to() moves them
        for key, value in target.items():
            self.register_buffer(f"target_{key}", torch.as_tensor(value).detach())
        self.register_buffer("region", region)

    @property
    def target(self) -> dict[str, torch.Tensor]:
        return {key: getattr(self, f"target_{key}") for key in self.keys}

    def statistics(self, features: dict, image: torch.Tensor, window: Window) -> Stats:
        return moment_sums(*owned(features[self.layer], window, self.stride, self.region))

    def loss(self, stats: Stats) -> torch.Tensor:
        mean, srm = moments_of(stats)
        share = 1.0 if self.region is None else stats["count"] / stats["positions"]
        return self.weight * share * STYLE_DISTANCES[self.distance](mean, srm, self.target)


class TVTerm(nn.Module):
    """Mean squared difference of neighbouring pixels (L2 total variation), in [0, 1] pixel units."""

    name, layer, reported, linear = "tv", None, True, False  # divided by counts summed over the image

    def __init__(self, weight: float):
        super().__init__()
        self.weight = weight

    def statistics(self, features: dict, image: torch.Tensor, window: Window) -> Stats:
        rows, cols = window.inside(1, image.shape[-2:])
        # A pixel owns the difference to its right and lower neighbours, which may sit in the
        # halo; the image's last column (row) has none.
        right = image[..., rows, cols.start:cols.stop + 1]
        below = image[..., rows.start:rows.stop + 1, cols]
        dx = right[..., :, 1:] - right[..., :, :-1]
        dy = below[..., 1:, :] - below[..., :-1, :]
        count = lambda d: torch.tensor(float(d.numel()), device=image.device)  # noqa: E731
        return {"dx": dx.pow(2).sum(), "dy": dy.pow(2).sum(), "nx": count(dx), "ny": count(dy)}

    def loss(self, stats: Stats) -> torch.Tensor:
        return self.weight * (stats["dx"] / stats["nx"].clamp_min(1) + stats["dy"] / stats["ny"].clamp_min(1))


class RangeTerm(nn.Module):
    """Keeps the iterate near [0, 1]: the mean over all pixels of the squared excess beyond it.

    The image is not clamped before the network sees it: a clamp's gradient is zero outside
    the range, so a pixel that stepped out stayed out, and a photo's flat white, black or
    saturated areas sat at a corner of the box where every gradient pointed outwards, a
    local minimum no box-bound optimizer leaves (a red picture kept style 136 where a painted
    one reaches 0.15). This penalty lets the iterate stray a little and pulls it back;
    saved, it is clamped. It is folded into "total" and not reported on its own: the saved
    image's losses are those of the clamped image, where it is zero.
    """

    name, layer, reported, linear = "range", None, False, False

    def __init__(self, weight: float):
        super().__init__()
        self.weight = weight

    def statistics(self, features: dict, image: torch.Tensor, window: Window) -> Stats:
        rows, cols = window.inside(1, image.shape[-2:])
        crop = image[..., rows, cols]
        excess = crop - crop.clamp(0, 1)
        return {"sum": excess.pow(2).sum(), "count": torch.tensor(float(excess.numel()), device=image.device)}

    def loss(self, stats: Stats) -> torch.Tensor:
        return self.weight * stats["sum"] / stats["count"].clamp_min(1)


# The range penalty's weight (docs/defaults.md): the saved image scored
# best at 1000 (at 100 pixels strayed further and were cut off on saving); at 1e5 the flat red
# picture was nearly trapped again (style 0.79 against 0.15).
RANGE_WEIGHT = 1000.0


class TemporalTerm(nn.Module):
    """Ruder et al. 2016: stay close to the previous output frame warped to this one, where the
    optical flow is reliable; the mean over all pixels of c * (x - warped)^2, c in [0, 1].

    Pixel-wise like TV, so a tile sums its own pixels and the loss is exact tiled.
    """

    name, layer, reported, linear = "temporal", None, True, False

    def __init__(self, warped: torch.Tensor, reliable: torch.Tensor, weight: float):
        """``warped``: (1, 3, H, W) in [0, 1]; ``reliable``: (1, 1, H, W) weights in [0, 1]."""
        super().__init__()
        self.weight = weight
        self.register_buffer("warped", warped.float())
        self.register_buffer("reliable", reliable.float())

    def statistics(self, features: dict, image: torch.Tensor, window: Window) -> Stats:
        rows, cols = window.inside(1, image.shape[-2:])
        trows, tcols = window.inside_whole(1, image.shape[-2:])
        error = (image[..., rows, cols] - self.warped[..., trows, tcols]).pow(2)
        return {"sum": (self.reliable[..., trows, tcols] * error).sum(),
                "count": torch.tensor(float(error.numel()), device=image.device)}

    def loss(self, stats: Stats) -> torch.Tensor:
        return self.weight * stats["sum"] / stats["count"].clamp_min(1)


def owned(f: torch.Tensor, window: Window, stride: int, region: torch.Tensor | None):
    """The positions of a crop's map ``f`` that its window owns, in fp32 at least (a bf16
    network's features), and their region weights (or None)."""
    rows, cols = window.inside(stride, f.shape[-2:])
    piece = _Owned.apply(f, rows, cols)
    if region is None:
        return piece, None
    trows, tcols = window.inside_whole(stride, f.shape[-2:])
    return piece, region[trows, tcols]


class _Owned(torch.autograd.Function):
    """f[..., rows, cols] as a dense fp32 (or wider) copy in f's layout; its gradient in f's dtype.

    Autograd's own ``f.float()[..., rows, cols]`` converted the whole crop, halo included, to
    fp32 and back in the backward, and left a strided view: a copy before each Gram product's
    reshape, strided sums, an fp32 scatter the size of the crop. One dense copy of the owned
    positions instead made an evaluation of 1024 px in 4 crops 0.72x the time (whole: 0.97x;
    EPYC, bf16), with the same values and gradient to the bit.
    """

    @staticmethod
    def forward(ctx, f: torch.Tensor, rows: slice, cols: slice) -> torch.Tensor:
        ctx.shape, ctx.dtype, ctx.span, ctx.layout = f.shape, f.dtype, (rows, cols), _layout(f)
        piece = f[..., rows, cols]
        return piece.to(torch.promote_types(f.dtype, torch.float32), memory_format=ctx.layout)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        rows, cols = ctx.span
        if (rows.stop - rows.start, cols.stop - cols.start) == tuple(ctx.shape[-2:]):
            return grad.to(ctx.dtype, memory_format=ctx.layout), None, None
        full = torch.empty(ctx.shape, dtype=ctx.dtype, device=grad.device, memory_format=ctx.layout).zero_()
        full[..., rows, cols] = grad
        return full, None, None


def _layout(f: torch.Tensor) -> torch.memory_format:
    channels_last = f.dim() == 4 and f.is_contiguous(memory_format=torch.channels_last)
    return torch.channels_last if channels_last else torch.contiguous_format
