"""The papers' layer names of each backbone, known without importing torch.

Checking ``--style-layers relu9_1`` must not wait seconds for torch to load, so the
names live here as plain data; features.py maps them onto torchvision's modules (and a
test checks the two agree).
"""

from __future__ import annotations

from ..errors import BadInputError

# Convolutions per block of torchvision's VGG configurations "D" (vgg16) and "E" (vgg19).
_VGG_BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
# Children of torchvision's resnet50 up to the classifier, with their total stride.
_RESNET_STRIDE = {"conv1": 2, "bn1": 2, "relu": 2, "maxpool": 4, "layer1": 4, "layer2": 8,
                  "layer3": 16, "layer4": 32}
# ...and the receptive field (px) of one position of their output: 7x7 conv1, 3x3 max pool, one
# 3x3 conv per bottleneck (3, 4, 6, 3 of them; the first of layer2-4 strided).
_RESNET_FIELD = {"conv1": 7, "bn1": 7, "relu": 7, "maxpool": 11, "layer1": 35, "layer2": 91,
                 "layer3": 267, "layer4": 427}


def _vgg_names(blocks: tuple[int, ...]) -> list[str]:
    """conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ...: one per module of ``vgg.features``."""
    names = []
    for block, convs in enumerate(blocks, start=1):
        for conv in range(1, convs + 1):
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
        names.append(f"pool{block}")
    return names


LAYER_NAMES = {**{m: _vgg_names(b) for m, b in _VGG_BLOCKS.items()}, "resnet50": list(_RESNET_STRIDE)}


def layer_names(model: str) -> list[str]:
    """Every layer name the model offers, in network order."""
    try:
        return LAYER_NAMES[model]
    except KeyError:
        raise BadInputError(f"unknown model '{model}' (valid: {', '.join(LAYER_NAMES)})", "model") from None


def check_layers(model: str, layers: list[str], option: str) -> None:
    """BadInputError naming ``option`` (a config field) for the first unknown layer."""
    valid = layer_names(model)
    for name in layers:
        if name not in valid:
            raise BadInputError(f"unknown layer '{name}' for {model} (valid: {', '.join(valid)})", option)


def deepest(model: str, layers) -> str:
    """The one of ``layers`` that comes last in the network."""
    return max(layers, key=layer_names(model).index)


def depth(model: str, layers: list[str]) -> int:
    """How many modules of the backbone a run needs: up to and including the deepest of ``layers``."""
    return layer_names(model).index(deepest(model, layers)) + 1


def stride(model: str, layer: str) -> int:
    """Pixels of the input per position of ``layer``'s map (2 per pooling or strided stage)."""
    names = layer_names(model)
    if model == "resnet50":
        return _RESNET_STRIDE[layer]
    return 2 ** sum(name.startswith("pool") for name in names[: names.index(layer) + 1])


def receptive_field(model: str, layers: list[str]) -> int:
    """The side (px) of the input that one position of the deepest of ``layers`` sees."""
    names = layer_names(model)
    deepest = names[depth(model, layers) - 1]
    if model == "resnet50":
        return _RESNET_FIELD[deepest]
    field, jump = 1, 1
    for name in names[: names.index(deepest) + 1]:
        if name.startswith("conv"):
            field += 2 * jump  # 3x3
        elif name.startswith("pool"):
            field, jump = field + jump, jump * 2  # 2x2, stride 2
    return field


def halo(model: str, layers: list[str]) -> int:
    """Context (px) a tile needs on each side so its own positions see what the whole image's do."""
    step = max(stride(model, layer) for layer in layers)
    radius = (receptive_field(model, layers) + 1) // 2
    return -(-radius // step) * step


def min_input_size(model: str, layers: list[str]) -> int:
    """The shortest image edge (px) that still leaves the deepest layer at least 1x1."""
    deepest = layer_names(model)[depth(model, layers) - 1]
    if model == "resnet50":
        return _RESNET_STRIDE[deepest]
    pools = sum(name.startswith("pool") for name in layer_names(model)[: depth(model, layers)])
    return 2**pools
