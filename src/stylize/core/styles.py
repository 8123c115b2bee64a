"""The style side of a run: style images and masks loaded, their moments at each scale cached,
blended into targets everywhere or into one Region per mask."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch
from PIL import Image
from torch import nn

from ..config import StylizeConfig, check_masks
from ..errors import BadInputError, opt
from ..media.imageio import (
    image_size,
    load_image,
    load_mask,
    mask_of,
    mask_tensor,
    normalize,
    resize_long_edge,
    to_tensor,
)
from ..net.layers import min_input_size
from .color import match_color
from .objective import Region, normalize_masks, style_moments, style_targets

ImageLike = Union[str, os.PathLike, Image.Image]


class StyleBank:
    """Each style image's moments per scale (and style mask), computed once with ``extractor``."""

    def __init__(self, extractor: nn.Module, cfg: StylizeConfig):
        self.extractor, self.cfg = extractor, cfg
        self._moments: dict[tuple, dict] = {}  # per style file, scale and mask file

    def targets(self, styles: Sequence[ImageLike], content_t: torch.Tensor, size: int,
                      tile: Optional[int] = None) -> dict:
        """{layer: target} of the styles blended by ``style_blend``, for a scale.

        ``tile``: take the moments tile by tile (the same targets, in bounded memory).
        """
        moments = [self.moments(s, content_t, size, tile) for s in styles]
        return style_targets(moments, self.cfg, self.cfg.style_blend)

    def moments(self, style: ImageLike, content_t: torch.Tensor, size: int, tile: Optional[int] = None,
                      mask: Optional[Mask] = None) -> dict:
        """{layer: (mean, second moment)} of one style image (within ``mask``) at a scale.

        Cached per file, mask file and scale, unless the style is recoloured for each content.
        """
        # Files are cached by path; in-memory PIL images (unhashable, mutable) are not cached.
        cacheable = (self.cfg.preserve_color != "histogram" and not isinstance(style, Image.Image)
                     and (mask is None or mask.name is not None))
        key = (size, os.fspath(style), mask and mask.name) if cacheable else None
        cached = self._moments.get(key)
        if cached is None:
            style_t = _style_tensor(style, self.cfg, size, content_t)
            weights = None if mask is None else mask.at(style_t).to(style_t.device)
            cached = style_moments(self.extractor, style_t, self.cfg, tile, weights)
            if cacheable:
                self._moments[key] = cached
        return cached

    def regions(self, styles: Sequence[ImageLike], content_t: torch.Tensor, size: int, tile: Optional[int],
                masks: Optional[list[Mask]], style_masks: list[Optional[Mask]]) -> Union[dict, list[Region]]:
        """The style side of a scale's objective: the blend everywhere, or one Region per mask."""
        moments = [self.moments(s, content_t, size, tile, m) for s, m in zip(styles, style_masks)]
        if masks is None:
            return style_targets(moments, self.cfg, self.cfg.style_blend)
        weights = normalize_masks([m.at(content_t).to(content_t.device) for m in masks])
        return [Region(style_targets([m], self.cfg), w) for m, w in zip(moments, weights)]


@dataclass
class Mask:
    """A loaded mask: ``at(x)`` gives its weights at x's size; ``name``: its file (None: in memory)."""

    image: Image.Image
    name: Optional[str]

    @property
    def label(self) -> str:
        return self.name or "(image)"

    def at(self, x: torch.Tensor) -> torch.Tensor:
        return mask_tensor(self.image, x.shape[-1], x.shape[-2])


def load_masks(cfg: StylizeConfig, content: ImageLike, photo_size: tuple[int, int], styles: list, masks,
                style_masks) -> tuple[Optional[list[Mask]], list[Optional[Mask]], Optional[dict]]:
    """(regional masks or None, a style mask or None per style, their names for the settings)."""
    regional = _masks(masks, styles, "masks", cfg, {None: (content, photo_size)})
    shapes = {i: (s, _size(s, "style image", cfg.max_pixels)) for i, s in enumerate(styles)} if style_masks else {}
    own = _masks(style_masks, styles, "style_masks", cfg, shapes) or [None] * len(styles)
    names = None if masks is None and style_masks is None else {
        "masks": [m.label for m in regional] if regional else None,
        "style_masks": [m and m.label for m in own] if style_masks else None}
    return regional, own, names


def _masks(given: Optional[Sequence], styles: list, option: str, cfg: StylizeConfig,
           shapes: dict) -> Optional[list[Optional[Mask]]]:
    """Load ``given`` masks, one per style image, each the shape of the image it covers.

    ``shapes``: {style index, or None for all: (the image, its (w, h))}. Entries may be None
    for style masks only (that style is taken whole).
    """
    if given is None:
        return None
    given = list(given)
    check_masks(option, given, len(styles))
    out = []
    for i, source in enumerate(given):
        if source is None and option == "style_masks":
            out.append(None)  # this style is taken whole
            continue
        if source is None:
            raise BadInputError(f"mask {i + 1} is empty; give a mask for each style image", option)
        what = "mask" if option == "masks" else "style mask"
        image = mask_of(source) if isinstance(source, Image.Image) else load_mask(source, what, cfg.max_pixels)
        covered, (w, h) = shapes[None if None in shapes else i]
        if abs(image.width / image.height - w / h) > 0.01 * w / h + 1 / min(image.size):
            raise BadInputError(
                f"{what} {quoted(source)} is {image.width}x{image.height} px but the image it covers,"
                f" {quoted(covered)}, is {w}x{h} px: a mask is resized to its image, so their shapes must match",
                option)
        out.append(Mask(image, None if isinstance(source, Image.Image) else os.fspath(source)))
    return out


def open_image(image: ImageLike, what: str, max_pixels: int) -> Image.Image:
    """A file through the guarded loader; an in-memory image through the same normalization."""
    return normalize(image) if isinstance(image, Image.Image) else load_image(image, what, max_pixels)


def _size(image: ImageLike, what: str, max_pixels: int) -> tuple[int, int]:
    """(w, h) as displayed: from a file's header alone (no decoding), or of an in-memory image."""
    return normalize(image).size if isinstance(image, Image.Image) else image_size(image, what, max_pixels)


def _style_tensor(style: ImageLike, cfg: StylizeConfig, size: int, content_t: torch.Tensor) -> torch.Tensor:
    image = resize_long_edge(open_image(style, "style image", cfg.max_pixels), max(1, round(size * cfg.style_scale)))
    need = min_input_size(cfg.model, list(cfg.style_layers))
    if min(image.size) < need:
        raise BadInputError(
            f"style image {quoted(style)}: {image.size[0]}x{image.size[1]} px at this size is too thin;"
            f" {cfg.model} needs {need} px on the short edge (raise {opt('style_scale')} or crop it)"
        )
    style_t = to_tensor(image).to(content_t.device)
    if cfg.preserve_color == "histogram":
        style_t = match_color(style_t, content_t)
    return style_t


def quoted(image: ImageLike) -> str:
    return "(image)" if isinstance(image, Image.Image) else f"'{image}'"
