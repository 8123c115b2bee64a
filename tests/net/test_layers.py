"""Layer names without torch (layers.py): the tables against torchvision, errors, depth, smallest input."""

import subprocess
import sys

import pytest
import torch
import torchvision
from torch import nn

from stylize.errors import BadInputError
from stylize.net.features import vgg_layer_names
from stylize.net.layers import check_layers, depth, layer_names, min_input_size


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


@pytest.mark.parametrize("model", ["vgg19", "vgg16"])
def test_vgg_tables_equal_the_names_of_torchvisions_modules(model):
    with torch.device("meta"):
        features = getattr(torchvision.models, model)().features
    assert layer_names(model) == vgg_layer_names(features)
    assert len(layer_names(model)) == len(features)


def test_resnet50_table_equals_torchvisions_children_before_the_classifier():
    with torch.device("meta"):
        children = [name for name, _ in torchvision.models.resnet50().named_children()]
    assert layer_names("resnet50") == [name for name in children if name not in ("avgpool", "fc")]


def test_unknown_layer_lists_valid_names():
    with pytest.raises(BadInputError, match=r"style_layers: unknown layer 'relu9_9' for vgg19 \(valid: conv1_1, relu1_1, "):
        check_layers("vgg19", ["relu1_1", "relu9_9"], "style_layers")


def test_min_input_size_follows_pooling():
    assert min_input_size("vgg19", ["relu1_1"]) == 1
    assert min_input_size("vgg19", ["relu5_1"]) == 16
    assert min_input_size("resnet50", ["layer3"]) == 16


@pytest.mark.parametrize("model, layers, expected", [
    ("vgg19", ["relu1_1"], 2),
    ("vgg19", ["relu5_1", "relu1_1", "relu4_2"], 30),  # the deepest counts, whatever the order
    ("vgg19", ["pool5"], 37),
    ("vgg16", ["relu5_1"], 26),
    ("resnet50", ["relu", "layer3"], 7),
    ("resnet50", ["conv1"], 1),
])
def test_depth_counts_modules_up_to_the_deepest_layer(model, layers, expected):
    assert depth(model, layers) == expected


def test_layers_and_config_do_not_import_torch():
    code = "import sys, stylize.net.layers, stylize.config\nassert 'torch' not in sys.modules, 'torch imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
