"""Truncation, freezing and module choices of the feature extractors (features.py)."""

import torch
from torch import nn

from stylize.net.features import build_extractor
from stylize.net.weights import load_weights


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
