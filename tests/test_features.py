"""Layer names, truncation and freezing of the feature extractors."""

import pytest
import torch
import torchvision
from torch import nn

from stylize.errors import BadInputError
from stylize.features import build_extractor
from stylize.layers import check_layers, layer_names, min_input_size
from stylize.weights import load_weights


@pytest.mark.parametrize("name, index", [("conv1_1", 0), ("relu1_1", 1), ("pool1", 4), ("conv4_2", 21),
                                         ("relu4_2", 22), ("relu5_1", 29), ("pool5", 36)])
def test_vgg19_names_match_torchvision_indices(name, index):
    with torch.device("meta"):
        features = torchvision.models.vgg19().features
    assert layer_names("vgg19").index(name) == index
    expected = {"c": nn.Conv2d, "r": nn.ReLU, "p": nn.MaxPool2d}[name[0]]
    assert isinstance(features[index], expected)


def test_vgg16_and_resnet50_names():
    assert layer_names("vgg16").index("relu4_2") == 20
    assert layer_names("resnet50") == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]


def test_unknown_layer_lists_valid_names():
    with pytest.raises(BadInputError, match=r"style_layers: unknown layer 'relu9_9' for vgg19 \(valid: conv1_1, relu1_1, "):
        check_layers("vgg19", ["relu1_1", "relu9_9"], "style_layers")


def test_min_input_size_follows_pooling():
    assert min_input_size("vgg19", ["relu1_1"]) == 1
    assert min_input_size("vgg19", ["relu5_1"]) == 16
    assert min_input_size("resnet50", ["layer3"]) == 16


def _extractor(layers, model="vgg19", pooling="max"):
    return build_extractor(model, load_weights(model, "random"), layers, pooling, seed=0)


def test_truncated_after_deepest_layer_and_frozen():
    ex = _extractor(["relu1_1", "relu3_1"])
    convs = [m for m in ex.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 5  # conv1_1, conv1_2, conv2_1, conv2_2, conv3_1
    assert not ex.training
    assert not any(p.requires_grad for p in ex.parameters())


def test_conv_output_is_not_post_relu():
    # VGG's ReLUs are in-place in torchvision: a tapped conv output must keep its negatives.
    ex = _extractor(["conv1_1", "relu1_1", "conv2_1"])
    out = ex(torch.rand(1, 3, 32, 32))
    assert (out["conv1_1"] < 0).any() and (out["conv2_1"] < 0).any()
    assert torch.equal(out["relu1_1"], out["conv1_1"].clamp_min(0))


def test_avg_pooling_replaces_max_pooling():
    ex = _extractor(["relu2_1"], pooling="avg")
    assert any(isinstance(m, nn.AvgPool2d) for m in ex.modules())
    assert not any(isinstance(m, nn.MaxPool2d) for m in ex.modules())


def test_resnet50_stage_outputs():
    ex = _extractor(["relu", "layer2"], model="resnet50")
    out = ex(torch.rand(1, 3, 64, 64))
    assert out["relu"].shape == (1, 64, 32, 32)
    assert out["layer2"].shape == (1, 512, 8, 8)
