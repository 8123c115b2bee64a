"""Frozen feature extractors with the papers' layer names.

A backbone is built with torchvision's model builders (on the meta device, so the
unused classifier costs nothing), truncated after the deepest layer in use, given
its weights and frozen. ``FeatureExtractor(image)`` takes RGB in [0, 1] and returns
``{layer name: activation}`` for the requested layers.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..errors import BadInputError
from .layers import depth, layer_names
from .weights import Weights


def vgg_layer_names(features: nn.Sequential) -> list[str]:
    """conv1_1, relu1_1, ..., pool1, conv2_1, ...: one name per module of a built ``vgg.features``.

    Used to check layers.py's table against torchvision's real modules.
    """
    names, block, conv = [], 1, 0
    for module in features:
        if isinstance(module, nn.Conv2d):
            conv += 1
            names.append(f"conv{block}_{conv}")
        elif isinstance(module, nn.ReLU):
            names.append(f"relu{block}_{conv}")
        else:  # MaxPool2d closes a block
            names.append(f"pool{block}")
            block, conv = block + 1, 0
    return names


def backbone(model: str) -> tuple[nn.Sequential, str]:
    """The untruncated body on the meta device (one child per paper layer name), its state_dict prefix."""
    import torchvision.models as tvm

    layer_names(model)  # an unknown model is a BadInputError naming it
    with torch.device("meta"):
        if model in ("vgg19", "vgg16"):
            return getattr(tvm, model)().features, "features."
        net = tvm.resnet50()
        children = OrderedDict((name, child) for name, child in net.named_children() if name not in ("avgpool", "fc"))
        return nn.Sequential(children), ""


def truncated_body(model: str, layers: list[str]) -> tuple[nn.Sequential, list[str], str]:
    """The body cut after the deepest of ``layers`` (on the meta device), its layer names, its prefix."""
    body, prefix = backbone(model)
    n = depth(model, layers)
    return nn.Sequential(OrderedDict(list(body.named_children())[:n])), layer_names(model)[:n], prefix


class Normalize(nn.Module):
    """RGB [0, 1] -> what the weights were trained on (channel order, mean, std)."""

    def __init__(self, mean, std, bgr: bool):
        super().__init__()
        self.bgr = bgr
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bgr:
            x = x.flip(1)
        return (x - self.mean) / self.std


class FeatureExtractor(nn.Module):
    def __init__(self, body: nn.Sequential, names: list[str], taps: list[str], normalize: Normalize):
        super().__init__()
        self.body, self.names, self.taps, self.normalize = body, names, set(taps), normalize

    def forward(self, image: torch.Tensor, upto: str | None = None) -> dict[str, torch.Tensor]:
        """{tapped layer: its output}; with ``upto``, only the layers up to it (a shorter pass)."""
        x, out = self.normalize(image), {}
        for name, module in zip(self.names, self.body):
            x = module(x)
            if name in self.taps:
                out[name] = x
            if name == upto:
                break
        return out


def build_extractor(
    model: str, weights: Weights, layers: list[str], pooling: str = "max", seed: int = 0, padding: str = "zeros"
) -> FeatureExtractor:
    """A frozen extractor for ``layers``, truncated after the deepest of them.

    ``padding``: "replicate" pads the image itself by repeating its edge (the first
    convolution only: deeper ones pad features, which zero-padding was trained on).
    """
    body, names, prefix = truncated_body(model, layers)
    _replace_modules(body, pooling)
    if padding != "zeros":
        next(m for m in body.modules() if isinstance(m, nn.Conv2d)).padding_mode = padding
    body = _materialize(body, weights, prefix, model, seed)
    extractor = FeatureExtractor(body, names, layers, Normalize(**weights.preprocess))
    return extractor.eval().requires_grad_(False)


class PooledExtractor(nn.Module):
    """RGB [0, 1] (N, 3, H, W) -> one globally average-pooled vector per image (N, D)."""

    def __init__(self, body: nn.Sequential, normalize: Normalize):
        super().__init__()
        self.normalize, self.body, self.pool = normalize, body, nn.AdaptiveAvgPool2d(1)
        # D: what the last conv emits (512 for VGG, 2048 for ResNet50's last bottleneck).
        self.width = [m for m in body.modules() if isinstance(m, nn.Conv2d)][-1].out_channels

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.pool(self.body(self.normalize(image))).flatten(1)  # (N, D, 1, 1) -> (N, D)


def build_pooled_extractor(model: str, weights: Weights, seed: int = 0) -> PooledExtractor:
    """The whole network but its classifier, frozen: the input of a transfer-learning head.

    VGG: all of ``features``, then global average pooling (not torchvision's 7x7 pool, so
    any input size >= 32 px gives the same D). ResNet50: every child but ``fc``; our
    pooling is exactly its ``avgpool``.
    """
    body, prefix = backbone(model)
    body = _materialize(body, weights, prefix, model, seed)
    return PooledExtractor(body, Normalize(**weights.preprocess)).eval().requires_grad_(False)


def _materialize(body: nn.Module, weights: Weights, prefix: str, model: str, seed: int) -> nn.Module:
    """Meta-device body -> real CPU tensors holding the weights (seeded init for random)."""
    body = body.to_empty(device="cpu")
    if weights.state_dict is None:
        _random_init(body, seed)
    else:
        _load(body, weights, prefix, model)
    return body


def _replace_modules(body: nn.Module, pooling: str) -> None:
    for parent in body.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.ReLU):
                # torchvision's ReLUs are in-place: a tapped conv output would come back post-ReLU.
                setattr(parent, name, nn.ReLU(inplace=False))
            elif isinstance(child, nn.MaxPool2d) and pooling == "avg":
                setattr(parent, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding))


def _random_init(body: nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    for m in body.modules():
        if isinstance(m, nn.Conv2d):  # torchvision's own init for VGG and ResNet convs
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            m.reset_parameters()  # weight 1, bias 0, running mean 0 / var 1


def _load(body: nn.Module, weights: Weights, prefix: str, model: str) -> None:
    """Copy the keys the truncated body needs; anything missing or mis-shaped is an error."""
    needed = body.state_dict()
    state = weights.state_dict
    where = weights.label
    picked = {}
    for key, tensor in needed.items():
        source = state.get(prefix + key)
        if source is None:
            raise BadInputError(f"{where}: no '{prefix + key}' for {model} (wrong model or not a state_dict)")
        if source.shape != tensor.shape:
            raise BadInputError(
                f"{where}: '{prefix + key}' has shape {tuple(source.shape)},"
                f" {model} needs {tuple(tensor.shape)}"
            )
        picked[key] = source.to(tensor.dtype) if source.is_floating_point() else source
    body.load_state_dict(picked, strict=True, assign=True)
