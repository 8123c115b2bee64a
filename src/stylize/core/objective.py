"""The function being minimized: weighted terms (terms.py), each a loss on statistics summed over the image.

Every term is ``loss(statistics)``, where the statistics are sums over positions: a Gram
matrix sums f f^T over a layer's positions, the content term sums squared differences
to the target, total variation sums squared neighbour differences. Sums split over any
partition of the image, so the same terms serve the whole image at once and an image
cut into tiles (tiling.py): sum each tile's statistics, apply the loss once, and the
gradient reaching each tile is exact (chain rule through the sums). A term only has to
say which of its positions a crop is responsible for: that is the crop's ``Window``.
Here: the style targets (moments of the style images, blended, in regions) and the
``Objective`` that runs the network once per crop and hands its features to every term.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import StylizeConfig
from ..net.layers import deepest, halo, stride
from .statistics import blend_targets, moment_sums, moments_of
from .terms import RANGE_WEIGHT, ContentTerm, RangeTerm, Stats, StyleTerm, Term, TVTerm, owned
from .tiling import OnTile, TilePlan, Window, accumulate, feature_map, plan_tiles, value_and_grad, whole


@dataclass
class Region:
    """Where a style goes: its targets ({style layer: statistics.style_target}) and a mask.

    ``mask``: (H, W) weights in [0, 1] at the content's size at this scale; None: everywhere.
    """

    targets: dict[str, dict]
    mask: torch.Tensor | None = None


def normalize_masks(masks: list[torch.Tensor]) -> list[torch.Tensor]:
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
            out.append(moment_sums(*owned(features[layer], window, s, region)))  # in fp32 (or fp64)
        return out

    summed = accumulate(statistics, style, plan.windows)
    return {layer: moments_of(sums) for layer, sums in zip(layers, summed)}


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
                 bf16: bool = False, tiles: TilePlan | None = None, extra: Sequence[Term] = ()):
        """``style``: {style layer: target} for one style everywhere, or Regions, one per mask.

        ``extra``: more terms (a video frame's TemporalTerm), each reported under its name.
        """
        super().__init__()
        self.extractor, self.cfg, self.bf16 = extractor, cfg, False
        weight = next(extractor.parameters())
        self.channels_last = weight.dim() == 4 and weight.is_contiguous(memory_format=torch.channels_last)
        self.regions = [Region(style)] if isinstance(style, dict) else list(style)
        # In fp32, whatever precision the image's passes will run in; by tiles if the image is.
        self.tiles = tiles  # None: the whole image at once
        content_target = feature_map(self.features, content, self._tiles(content), cfg.content_layer,
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

    def features(self, image: torch.Tensor, upto: str | None = None) -> dict[str, torch.Tensor]:
        """The network's taps on ``image``, up to layer ``upto`` only if given ("": none, no pass)."""
        if upto == "":
            return {}
        if self.channels_last:  # the network's layout (see Stylizer); gradients come back to image's
            image = image.contiguous(memory_format=torch.channels_last)
        if not self.bf16:
            return self.extractor(image, upto)
        with torch.autocast(image.device.type, dtype=torch.bfloat16):
            return self.extractor(image, upto)  # bf16: each term takes its positions in fp32 (terms.owned)

    def statistics(self, crop: torch.Tensor, window: Window, first_pass: bool = False) -> list[Stats]:
        """Each term's statistics over the positions ``window`` gives this crop of the image.

        ``first_pass``: a tiled evaluation's sums that fix its gradient: only the terms that are
        not linear in their statistics (the others get {}), and the network only as deep as they
        read: the default's style stops at relu4_1, 13% of the pass short of the content's relu4_2.
        """
        # Unclamped: RangeTerm keeps the iterate near [0, 1] (see there why no clamp).
        wanted = [not (first_pass and term.linear) for term in self.terms]
        features = self.features(crop, self.first_pass_upto if first_pass else None)
        return [term.statistics(features, crop, window) if want else {} for term, want in zip(self.terms, wanted)]

    @property
    def first_pass_upto(self) -> str:
        """The deepest layer a term that is not linear reads ("": none reads the network)."""
        layers = [term.layer for term in self.terms if not term.linear and term.layer is not None]
        return deepest(self.cfg.model, layers) if layers else ""

    def losses(self, stats: list[Stats]) -> dict[str, torch.Tensor]:
        """The weighted terms from statistics summed over the whole image; "total" also counts
        the terms that are not reported on their own (RangeTerm)."""
        out: dict[str, torch.Tensor] = defaultdict(lambda: 0.0)
        hidden = 0.0
        for term, s in zip(self.terms, stats):
            if term.reported:
                out[term.name] = out[term.name] + term.loss(s)
            else:
                hidden = hidden + term.loss(s)
        return {**out, "total": sum(out.values()) + hidden}

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """The whole image's terms in one pass (with autograd, if ``image`` requires grad)."""
        return self.losses(self.statistics(image, Window.whole(*image.shape[-2:])))

    def value_and_grad(self, x: torch.Tensor, on_tile: OnTile = None):
        """(detached terms, gradient of the total) at ``x``, tile by tile if ``tiles`` says so."""
        return value_and_grad(self, x, self._tiles(x), on_tile)

    def value(self, x: torch.Tensor, on_tile: OnTile = None) -> dict[str, torch.Tensor]:
        """The terms at ``x`` without autograd (one forward pass per tile)."""
        tiles = self._tiles(x)
        if not tiles.tiled:
            with torch.no_grad():
                return self(x)
        with torch.no_grad():
            return self.losses(accumulate(self.statistics, x, tiles.windows, on_tile))

    def _tiles(self, x: torch.Tensor) -> TilePlan:
        return self.tiles if self.tiles is not None else whole(*x.shape[-2:])
