"""Defaults and their validation, which needs no torch."""

import pytest

from stylize import BadInputError, StylizeConfig
from stylize.config import BATCH_DEFAULTS, BatchConfig, validate


def test_resolved_fills_the_model_defaults():
    cfg = validate(StylizeConfig(model="resnet50", optimizer="adam"), 1)
    assert (cfg.content_layer, cfg.weights, cfg.lr) == ("layer3", "torchvision", 0.02)
    assert cfg.style_layers == ("relu", "layer1", "layer2", "layer3")


@pytest.mark.parametrize("options, option, message", [
    ({"size": 8}, "size", "size: 8 is out of range (16 to 16384)"),
    ({"pooling": "min"}, "pooling", "pooling: 'min' is not one of max, avg"),
    ({"tv_weight": -1}, "tv_weight", "tv_weight: must be >= 0 (got -1)"),
    ({"lr": 0}, "lr", "lr: must be > 0 (got 0)"),
    ({"style_blend": (1, 2)}, "style_blend", "style_blend: 2 weights for 1 style image; give one per style image"),
    ({"style_layers": ("relu1_1", "relu2_1"), "style_layer_weights": (1,)}, "style_layers",
     "style_layers: 1 weight for 2 style layers; give one per style layer"),
    ({"content_layer": "relu9_9"}, "content_layer", "content_layer: unknown layer 'relu9_9' for vgg19"),
    ({"device": "gpu"}, "device", "device: 'gpu' is not one of auto, cpu, cuda, cuda:N, mps"),
    ({"weights": "/nowhere/w.pth"}, "weights", "weights '/nowhere/w.pth': file not found"),
    ({"style_scale": 100.0}, "style_scale", "style_scale: 100.0 gives a 51200 px style image at size 512"),
])
def test_each_bad_setting_is_named(options, option, message):
    with pytest.raises(BadInputError) as caught:
        validate(StylizeConfig(**options), 1)
    assert str(caught.value).startswith(message)
    assert caught.value.option == option


def test_batch_defaults():
    assert BATCH_DEFAULTS == BatchConfig(name="{content}__{style}", format="jpg", each_style=False,
                                         recursive=False, skip_existing=False, shard=None)


def test_to_dict_is_json_ready():
    assert StylizeConfig(style_blend=(0.7, 0.3)).to_dict()["style_blend"] == [0.7, 0.3]
