"""The function being minimized: weighted terms, each a loss on statistics summed over the image.

Every term is ``loss(statistics)``, where the statistics are sums over positions: a Gram
matrix sums f f^T over a layer's positions, the content term sums squared differences
to the target, total variation sums squared neighbour differences. Sums split over any
partition of the image, so the same terms serve the whole image at once and an image
cut into tiles (tiling.py): sum each tile's statistics, apply the loss once, and the
gradient reaching each tile is exact (chain rule through the sums). A term only has to
say which of its positions a crop is responsible for: that is the crop's ``Window``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import StylizeConfig
from ..net.layers import halo, stride
from .losses import STYLE_DISTANCES, blend_targets, moment_sums, normalised
from .tiling import OnTile, TilePlan, Window, accumulate, feature_map, plan_tiles, value_and_grad, whole

Stats = dict[str, torch.Tensor]


class ContentTerm(nn.Module):
    """Relative squared error to the content's features at one layer (Gatys et al.'s content loss)."""

    name = "content"

    def __init__(self, layer: str, target: torch.Tensor, stride: int, weight: float):
        super().__init__()
        self.layer, self.stride, self.weight = layer, stride, weight
        self.register_buffer("target", target.detach())  # (1, C, Hf, Wf) of the whole image
        # relative_mse = sum((f - t)^2) / numel / mean(t^2): the denominator is the whole image's
        self.scale = 1.0 / (target.numel() * target.pow(2).mean().clamp_min(1e-12).item())

    def statistics(self, features: dict, image: torch.Tensor, window: Window) -> Stats:
        f = features[self.layer]
        rows, cols = window.inside(self.stride, f.shape[-2:])
        trows, tcols = window.inside_whole(self.stride, f.shape[-2:])
        diff = f[..., rows, cols] - self.target[..., trows, tcols]
        return {"sq": diff.pow(2).sum()}

    def loss(self, stats: Stats) -> torch.Tensor:
        return self.weight * self.scale * stats["sq"]


class StyleTerm(nn.Module):
    """A style statistic at one layer: a distance between the features' moments and the style's.

    ``distance``: "gram" (Gatys et al.: second raw moments) or "wasserstein" (Gaussians fitted
    to the features, as in crowsonkb/style-transfer-pytorch). ``region``: the weight of each
    position of the whole image's map at this layer (regional style), None for everywhere.
    A region's moments are its own (divided by its weight), so a small sky is not diluted by
    the ground; its loss is then scaled by its share of the positions, so each pixel pulls as
    hard as in a run without masks, whatever the size of its region.
    """

    name = "style"

    def __init__(self, layer: str, target: dict, stride: int, weight: float, distance: str = "gram",
                 region: torch.Tensor | None = None):
        super().__init__()
        self.layer, self.stride, self.weight, self.distance = layer, stride, weight, distance
        self.keys = list(target)  # losses.style_target's tensors, fixed: buffers, so .to() moves them
        for key, value in target.items():
            self.register_buffer(f"target_{key}", torch.as_tensor(value).detach())
        self.register_buffer("region", region)

    @property
    def target(self) -> dict[str, torch.Tensor]:
        return {key: getattr(self, f"target_{key}") for key in self.keys}

    def statistics(self, features: dict, image: torch.Tensor, window: Window) -> Stats:
        return moment_sums(*owned(features[self.layer], window, self.stride, self.region))

    def loss(self, stats: Stats) -> torch.Tensor:
        mean, srm = normalised(stats)
        share = 1.0 if self.region is None else stats["count"] / stats["positions"]
        return self.weight * share * STYLE_DISTANCES[self.distance](mean, srm, self.target)


class TVTerm(nn.Module):
    """Mean squared difference of neighbouring pixels (L2 total variation), in [0, 1] pixel units."""

    name = "tv"
    layer = None

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

    name = "range"
    layer = None
    reported = False

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


# The range penalty's weight (README, How the defaults were chosen): the saved image scored
# best at 1000 (at 100 pixels strayed further and were cut off on saving); at 1e5 the flat red
# picture was nearly trapped again (style 0.79 against 0.15).
RANGE_WEIGHT = 1000.0


class TemporalTerm(nn.Module):
    """Ruder et al. 2016: stay close to the previous output frame warped to this one, where the
    optical flow is reliable; the mean over all pixels of c * (x - warped)^2, c in [0, 1].

    Pixel-wise like TV, so a tile sums its own pixels and the loss is exact tiled.
    """

    name = "temporal"
    layer = None

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
    """The positions of a crop's map ``f`` that its window owns, and their region weights (or None)."""
    rows, cols = window.inside(stride, f.shape[-2:])
    if region is None:
        return f[..., rows, cols], None
    trows, tcols = window.inside_whole(stride, f.shape[-2:])
    return f[..., rows, cols], region[trows, tcols]


@dataclass
class Region:
    """Where a style goes: its targets ({style layer: losses.style_target}) and a mask.

    ``mask``: (H, W) weights in [0, 1] at the content's size at this scale; None: everywhere.
    """

    targets: dict[str, dict]
    mask: torch.Tensor | None = None


def normalise_masks(masks: list[torch.Tensor]) -> list[torch.Tensor]:
    """Where masks overlap they share the pixel (weights summing to 1); elsewhere they are kept as
    drawn, so a pixel no mask covers gets no style at all, only the content and TV terms."""
    total = torch.stack(masks).sum(0).clamp_min(1.0)
    return [m / total for m in masks]


def pool_mask(mask: torch.Tensor, stride: int) -> torch.Tensor:
    """(H, W) weights -> a layer's map at total ``stride``: each position gets the mean weight of
    the stride x stride block of pixels it sits over, the way pooling shrinks the image. Soft
    edges stay soft and a region's weight is its area; a position straddling a border counts
    for both regions in proportion. (ceil: ResNet's padded maps round up; VGG's floor drops
    the last partial block, which the window's slicing leaves out.)
    """
    if stride == 1:
        return mask
    return F.avg_pool2d(mask[None, None], stride, stride, ceil_mode=True)[0, 0]


def style_moments(extractor: nn.Module, style: torch.Tensor, cfg: StylizeConfig, tile: int | None = None,
                  mask: torch.Tensor | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{style layer: (mean, second raw moment)} of one style image's features (in its ``mask``).

    With ``tile`` the sums are taken tile by tile: the same moments, with the memory of one
    tile's forward pass.
    """
    layers = list(cfg.style_layers)
    strides = [stride(cfg.model, layer) for layer in layers]
    h, w = style.shape[-2:]
    plan = plan_tiles(h, w, tile, halo(cfg.model, layers), max(strides)) if tile else whole(h, w)
    pooled = [None if mask is None else pool_mask(mask, s) for s in strides]

    def statistics(crop: torch.Tensor, window: Window) -> list[Stats]:
        features = extractor(crop)
        out = []
        for layer, s, region in zip(layers, strides, pooled):
            f = features[layer]
            f = f.to(torch.promote_types(f.dtype, torch.float32))  # bf16 -> fp32; fp64 (tests) stays
            out.append(moment_sums(*owned(f, window, s, region)))
        return out

    summed = accumulate(statistics, style, plan)
    return {layer: normalised(sums) for layer, sums in zip(layers, summed)}


def style_targets(moments: list[dict], cfg: StylizeConfig, blend: list[float] | None = None) -> dict[str, dict]:
    """{style layer: target} of one or several styles' moments, blended linearly (mean, E[f f^T])."""
    blend = list(blend or [1.0] * len(moments))
    return {layer: blend_targets([{"mean": m[layer][0], "srm": m[layer][1]} for m in moments], blend, cfg.style_loss)
            for layer in cfg.style_layers}


class Objective(nn.Module):
    """image -> weighted loss terms {"content", "style", "tv", ..., "total"}.

    Targets are fixed at construction, in fp32, without autograd. With ``bf16`` set only the
    network's forward runs in bfloat16 (autocast); its outputs come back to fp32 before any
    statistic, so losses, targets, the image and the optimizer state never lose precision.
    """

    def __init__(self, extractor: nn.Module, content: torch.Tensor, style: dict | list[Region], cfg: StylizeConfig,
                 bf16: bool = False, plan: TilePlan | None = None, extra: Sequence[nn.Module] = ()):
        """``style``: {style layer: target} for one style everywhere, or Regions, one per mask.

        ``extra``: more terms (a video frame's TemporalTerm), each reported under its name.
        """
        super().__init__()
        self.extractor, self.cfg, self.bf16 = extractor, cfg, False
        weight = next(extractor.parameters())
        self.channels_last = weight.dim() == 4 and weight.is_contiguous(memory_format=torch.channels_last)
        self.regions = [Region(style)] if isinstance(style, dict) else list(style)
        # In fp32, whatever precision the image's passes will run in; by tiles if the image is.
        self.plan = plan  # None: the whole image at once
        content_target = feature_map(self.features, content, self._plan(content), cfg.content_layer,
                                     stride(cfg.model, cfg.content_layer))
        self.bf16 = bf16
        layer_weights = cfg.style_layer_weights or [1.0] * len(cfg.style_layers)
        self.layer_weights = [w / sum(layer_weights) for w in layer_weights]
        model = cfg.model
        self.terms = nn.ModuleList([
            ContentTerm(cfg.content_layer, content_target, stride(model, cfg.content_layer), cfg.content_weight),
            *self._style_terms(cfg),
            TVTerm(cfg.tv_weight),
            RangeTerm(RANGE_WEIGHT),
            *extra,
        ])

    def _style_terms(self, cfg: StylizeConfig) -> list[StyleTerm]:
        terms = []
        for region in self.regions:
            for layer, w in zip(cfg.style_layers, self.layer_weights):
                s = stride(cfg.model, layer)
                pooled = None if region.mask is None else pool_mask(region.mask, s)
                terms.append(StyleTerm(layer, region.targets[layer], s, cfg.style_weight * w, cfg.style_loss, pooled))
        return terms

    def features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.channels_last:  # the network's layout (see Stylizer); gradients come back to image's
            image = image.contiguous(memory_format=torch.channels_last)
        if not self.bf16:
            return self.extractor(image)
        with torch.autocast(image.device.type, dtype=torch.bfloat16):
            features = self.extractor(image)
        return {k: v.float() for k, v in features.items()}

    def statistics(self, crop: torch.Tensor, window: Window) -> list[Stats]:
        """Each term's statistics over the positions ``window`` gives this crop of the image."""
        # Unclamped: RangeTerm keeps the iterate near [0, 1] (see there why no clamp).
        features = self.features(crop)
        return [term.statistics(features, crop, window) for term in self.terms]

    def losses(self, stats: list[Stats]) -> dict[str, torch.Tensor]:
        """The weighted terms from statistics summed over the whole image; "total" also counts
        the terms that are not reported on their own (RangeTerm)."""
        out: dict[str, torch.Tensor] = defaultdict(lambda: 0.0)
        hidden = 0.0
        for term, s in zip(self.terms, stats):
            if getattr(term, "reported", True):
                out[term.name] = out[term.name] + term.loss(s)
            else:
                hidden = hidden + term.loss(s)
        return {**out, "total": sum(out.values()) + hidden}

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """The whole image's terms in one pass (with autograd, if ``image`` requires grad)."""
        return self.losses(self.statistics(image, Window.whole(*image.shape[-2:])))

    def value_and_grad(self, x: torch.Tensor, on_tile: OnTile = None):
        """(detached terms, gradient of the total) at ``x``, tile by tile if ``plan`` says so."""
        return value_and_grad(self, x, self._plan(x), on_tile)

    def value(self, x: torch.Tensor, on_tile: OnTile = None) -> dict[str, torch.Tensor]:
        """The terms at ``x`` without autograd (one forward pass per tile)."""
        plan = self._plan(x)
        if not plan.tiled:
            with torch.no_grad():
                return self(x)
        with torch.no_grad():
            return self.losses(accumulate(self.statistics, x, plan, on_tile))

    def _plan(self, x: torch.Tensor) -> TilePlan:
        return self.plan if self.plan is not None else whole(*x.shape[-2:])
