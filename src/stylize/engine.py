"""One stylization: images -> network -> targets -> scales of optimizer steps -> output.

The engine never prints: it reports through ``on_progress(Progress)`` and raises
the exceptions of errors.py. The CLI draws bars and turns errors into exit codes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, Union

import torch
from PIL import Image

from . import config as C
from .color import match_color
from .config import DEFAULTS, StylizeConfig
from .device import resolve_device, resolve_precision
from .errors import BadInputError, RunError
from .features import build_extractor, check_layers, min_input_size
from .imageio import load_image, long_edge_dims, resize_long_edge, to_image, to_tensor
from .objective import Objective, style_grams
from .memory import available, describe, estimate, largest_fitting_size
from .optimize import HISTORY_SIZE, Loop, Progress, finalize, initial_image, schedule, upsample
from .weights import load_weights

ImageLike = Union[str, os.PathLike, Image.Image]


@dataclass
class Result:
    image: Image.Image
    losses: dict[str, float]  # of the optimized image, clamped (before a luminance recolouring)
    steps: int
    seconds: float  # optimization only
    config: StylizeConfig  # resolved: no None left
    device: str
    precision: str = "fp32"  # what the network actually ran in
    notices: list[str] = field(default_factory=list)  # e.g. a fallback to fp32


def stylize(
    content: ImageLike,
    styles: Union[ImageLike, Sequence[ImageLike]],
    *,
    config: StylizeConfig = DEFAULTS,
    on_progress: Optional[Callable[[Progress], None]] = None,
) -> Image.Image:
    """Repaint ``content`` in the style of ``styles`` (paths or PIL images); returns a PIL image."""
    return run(content, styles, config=config, on_progress=on_progress).image


def run(
    content: ImageLike,
    styles: Union[ImageLike, Sequence[ImageLike]],
    *,
    config: StylizeConfig = DEFAULTS,
    on_progress: Optional[Callable[[Progress], None]] = None,
) -> Result:
    """Like :func:`stylize`, but returns the final losses, timing and resolved config too."""
    styles = _as_list(styles)
    return Stylizer(config, len(styles)).run(content, styles, on_progress=on_progress)


def _as_list(styles) -> list:
    return [styles] if isinstance(styles, (str, os.PathLike, Image.Image)) else list(styles)


class Stylizer:
    """A validated config with its network loaded once, for stylizing many images.

    Style targets (blended Gram matrices) are cached per style set, so a batch pays for
    the network and each style once, not once per content image.
    """

    def __init__(self, config: StylizeConfig = DEFAULTS, n_styles: int = 1):
        self.cfg = cfg = validate(config, n_styles)
        self.device = resolve_device(cfg.device)
        self.precision = resolve_precision(cfg.precision, self.device)
        self.extractor = build_extractor(
            cfg.model, load_weights(cfg.model, cfg.weights), _taps(cfg), cfg.pooling, cfg.seed
        ).to(self.device)
        if self.device.type in ("cpu", "cuda"):
            # channels_last: oneDNN's and cuDNN's native layout. On the CPU it made an iteration
            # 6-9% faster (fp32 and bf16, 256 and 512 px), most of it in max-pooling (13x faster).
            self.extractor = self.extractor.to(memory_format=torch.channels_last)
        self._targets: dict[tuple, dict[str, torch.Tensor]] = {}

    def style_targets(self, styles: Sequence[ImageLike], content_t: torch.Tensor, size: int) -> dict:
        """{layer: blended Gram target} for a scale; cached unless the style is recoloured per content."""
        # Files are cached by path; in-memory PIL images (unhashable, mutable) are not cached.
        cacheable = self.cfg.preserve_color != "histogram" and not any(isinstance(s, Image.Image) for s in styles)
        key = (size, *map(os.fspath, styles)) if cacheable else None
        cached = self._targets.get(key)
        if cached is None:
            style_ts = [_style_tensor(s, self.cfg, size, content_t) for s in styles]
            cached = style_grams(self.extractor, style_ts, self.cfg)
            if cacheable:
                self._targets[key] = cached
        return cached

    def run(self, content: ImageLike, styles, on_progress=None) -> Result:
        cfg, styles = self.cfg, _as_list(styles)
        _check_weights("--style-blend", cfg.style_blend, len(styles), "style images")
        torch.manual_seed(cfg.seed)
        photo = _open(content, "content image", cfg.max_pixels)
        width, height = long_edge_dims(photo.size, cfg.size)
        _check_min_size(cfg, (width, height), content)
        self.check_memory(width, height)
        need = min_input_size(cfg.model, _taps(cfg))  # a coarse scale too small for the network is left out
        plan = [(s, n) for s, n in schedule(cfg) if s == cfg.size or min(long_edge_dims(photo.size, s)) >= need]
        loop = Loop(cfg, sum(n for _, n in plan), on_progress, self.precision, (height, width))
        x = None
        try:
            for size, iterations in plan:
                content_t = to_tensor(resize_long_edge(photo, size)).to(self.device)
                x = initial_image(cfg, content_t) if x is None else upsample(x, content_t)
                objective = Objective(self.extractor, content_t, self.style_targets(styles, content_t, size), cfg)
                x = loop.optimize(objective, x, content_t, iterations, size)
            objective.bf16 = False  # the reported losses are exact, whatever precision ran
            with torch.no_grad():  # of the image optimized, not of its --preserve-color recolouring
                losses = {k: v.item() for k, v in objective(x.detach().clamp(0, 1)).items()}
            final = finalize(x, cfg, content_t)
        except torch.OutOfMemoryError:
            raise RunError(self._out_of_memory(width, height)) from None
        except KeyboardInterrupt:  # wherever it landed, once there is an image it is kept
            if loop.good is None:
                raise
            raise loop.interrupted() from None
        return Result(to_image(final), losses, loop.steps, time.perf_counter() - loop.start, cfg,
                      str(self.device), loop.precision, loop.notices)


    def check_memory(self, width: int, height: int) -> None:
        """Refuse a run that cannot fit before it starts (unless --force)."""
        need, room = self.memory(width, height)
        if room and need > room and not self.cfg.force:
            best = largest_fitting_size(self.cfg, width / height, self.precision, self.device, HISTORY_SIZE, room)
            raise BadInputError(
                f"--size {self.cfg.size}: a {width}x{height} px run needs about {describe(need)} on {self.device},"
                f" more than the {describe(room)} available; --size {best} fits (or pass --force)"
            )

    def memory(self, width: int, height: int) -> tuple[int, int]:
        """(estimated peak bytes, bytes available) for a run at ``width`` x ``height``."""
        need = estimate(self.cfg, width, height, self.precision, self.device, HISTORY_SIZE)
        return need, available(self.device)

    def _out_of_memory(self, width: int, height: int) -> str:
        torch.cuda.empty_cache()
        room = available(self.device)
        best = largest_fitting_size(self.cfg, width / height, self.precision, self.device, HISTORY_SIZE, room)
        return f"out of memory on {self.device} at {width}x{height} px; --size {best} should fit"


def _open(image: ImageLike, what: str, max_pixels: int) -> Image.Image:
    return image.convert("RGB") if isinstance(image, Image.Image) else load_image(image, what, max_pixels)


def _taps(cfg: StylizeConfig) -> list[str]:
    return list(dict.fromkeys([*cfg.style_layers, cfg.content_layer]))


def _style_tensor(style: ImageLike, cfg: StylizeConfig, size: int, content_t: torch.Tensor) -> torch.Tensor:
    image = resize_long_edge(_open(style, "style image", cfg.max_pixels), max(1, round(size * cfg.style_scale)))
    need = min_input_size(cfg.model, list(cfg.style_layers))
    if min(image.size) < need:
        name = f"'{style}'" if not isinstance(style, Image.Image) else "(image)"
        raise BadInputError(
            f"style image {name}: {image.size[0]}x{image.size[1]} px at this size is too thin;"
            f" {cfg.model} needs {need} px on the short edge (raise --style-scale or crop it)"
        )
    style_t = to_tensor(image).to(content_t.device)
    if cfg.preserve_color == "histogram":
        style_t = match_color(style_t, content_t)
    return style_t


def _check_min_size(cfg: StylizeConfig, size: tuple[int, int], content: ImageLike) -> None:
    need = min_input_size(cfg.model, _taps(cfg))
    if min(size) < need:
        name = "(image)" if isinstance(content, Image.Image) else f"'{content}'"
        raise BadInputError(
            f"content image {name}: {size[0]}x{size[1]} px at --size {cfg.size} is too thin;"
            f" {cfg.model} needs at least {need} px on the short edge for these layers (raise --size or crop it)"
        )


# ---------------------------------------------------------------- validation


def validate(config: StylizeConfig, n_styles: int) -> StylizeConfig:
    """Check every setting; returns the resolved config or raises BadInputError."""
    for name, value, choices in (
        ("--model", config.model, C.MODELS),
        ("--pooling", config.pooling, C.POOLINGS),
        ("--optimizer", config.optimizer, C.OPTIMIZERS),
        ("--preserve-color", config.preserve_color, C.PRESERVE_COLORS),
        ("--precision", config.precision, C.PRECISIONS),
    ):
        if value not in choices:
            raise BadInputError(f"{name}: '{value}' is not one of {', '.join(choices)}")
    cfg = config.resolved()
    _in_range("--size", cfg.size, *C.SIZE_RANGE)
    _in_range("--iterations", cfg.iterations, *C.ITERATIONS_RANGE)
    _in_range("--style-scale", round(cfg.size * cfg.style_scale), *C.SIZE_RANGE, shown=cfg.style_scale)
    _in_range("--coarse-iterations", cfg.coarse_iterations, 0, C.ITERATIONS_RANGE[1])
    for name in ("content_weight", "style_weight", "tv_weight", "save_every", "min_size", "tolerance", "max_pixels"):
        if getattr(cfg, name) < 0:
            raise BadInputError(f"--{name.replace('_', '-')}: must be >= 0 (got {getattr(cfg, name)})")
    if not cfg.lr > 0:
        raise BadInputError(f"--lr: must be > 0 (got {cfg.lr})")
    if n_styles < 1:
        raise BadInputError("no style image given")
    _check_weights("--style-blend", cfg.style_blend, n_styles, "style images")
    _check_weights("--style-layers", cfg.style_layer_weights, len(cfg.style_layers), "style layers")
    check_layers(cfg.model, list(cfg.style_layers), "--style-layers")
    check_layers(cfg.model, [cfg.content_layer], "--content-layer")
    return cfg


def _in_range(name: str, value, low, high, shown=None) -> None:
    if not low <= value <= high:
        raise BadInputError(f"{name}: {shown if shown is not None else value} is out of range ({low} to {high})"
                            + (f"; it gives a {value} px style image" if shown is not None else ""))


def _check_weights(name: str, weights, count: int, what: str) -> None:
    if weights is None:
        return
    if len(weights) != count:
        raise BadInputError(f"{name}: {len(weights)} weights given for {count} {what}")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise BadInputError(f"{name}: weights must be >= 0 with a positive sum (got {list(weights)})")
