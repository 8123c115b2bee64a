"""Byte counts (memory.py): buffers, network activations, the process, what is available."""

import shutil

import pytest
import torch
import torchvision

import stylize.engine
import stylize.memory
from conftest import FAST
from stylize import StylizeConfig
from stylize.config import validate
from stylize.features import truncated_body
from stylize.memory import activation_elements, buffer_bytes, compact, describe, fixed_bytes

CPU = torch.device("cpu")


def _error(result):
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_l_bfgs_pairs_cost_two_image_copies_each():
    cfg = validate(StylizeConfig(), 1)
    image = 3 * 512 * 341 * 4
    assert buffer_bytes(cfg, 341, 512, 60, False) - buffer_bytes(cfg, 341, 512, 50, False) == 10 * 2 * image
    tiled_slack = stylize.memory.TILED_OVERHEAD
    assert buffer_bytes(cfg, 341, 512, 50, True) - buffer_bytes(cfg, 341, 512, 50, False) == image + tiled_slack
    adam = validate(StylizeConfig(optimizer="adam"), 1)
    assert buffer_bytes(adam, 341, 512, 50, False) == buffer_bytes(adam, 341, 512, 0, False)


@pytest.mark.parametrize("model, layers, h, w", [("vgg19", ["relu5_1", "relu4_2"], 97, 130),
                                                  ("resnet50", ["layer3"], 101, 64)])
def test_activation_counts_match_the_network_on_the_meta_device(model, layers, h, w):
    body, _, _ = truncated_body(model, layers)
    x, sizes = torch.empty(1, 3, h, w, device="meta"), []
    for module in body:
        x = module(x)
        sizes.append(x.numel())
    total, largest = activation_elements(model, layers, h, w)
    assert largest == max(sizes)
    assert sum(sizes) <= total <= 1.1 * sum(sizes)  # ceil(h / stride) where pooling floors: a little over


@pytest.mark.parametrize("style_layers, content_layer, depth", [
    (None, None, 23),  # relu4_2 (content) is the deepest default layer: module 22 of vgg19.features
    (("relu1_1",), "relu2_1", 7),
])
def test_an_estimate_without_the_weights_loaded_adds_their_bytes(monkeypatch, style_layers, content_layer, depth):
    monkeypatch.setattr(stylize.memory, "_process_bytes", lambda: 123 * 2**20)
    cfg = validate(StylizeConfig(style_layers=style_layers, content_layer=content_layer), 1)
    with torch.device("meta"):
        body = torchvision.models.vgg19().features[:depth]
    weight_bytes = sum(p.numel() * 4 for p in body.parameters())
    assert fixed_bytes(cfg, CPU, loaded=False) - fixed_bytes(cfg, CPU, loaded=True) == weight_bytes


def test_sizes_read_at_a_glance():
    assert (describe(int(1.5 * 2**30)), describe(800 * 2**20)) == ("1.5 GiB", "800 MiB")
    assert compact(int(1.5 * 2**30)) == "1.5GiB"


def test_a_run_that_cannot_fit_is_refused_with_what_it_needs(cli, images, tmp_path):
    result = cli(images["content"], images["style"], "-o", tmp_path / "o.png", "--size", "8192",
                 "--max-memory", "3GiB")
    assert result.exit_code == 2
    line = _error(result)
    assert line.startswith("Error: --size 8192: at 4096x2731 px the smallest plan (")  # the first scale that fits no plan
    assert " of memory on cpu, more than the 3.0 GiB allowed by --max-memory; lower --size" in line
    assert not (tmp_path / "o.png").exists()


def test_force_runs_anyway(cli, images, tmp_path):
    args = [images["content"], images["style"], "-o", tmp_path / "o.png", *FAST, "--max-memory", "1MiB"]
    assert cli(*args).exit_code == 2
    assert cli(*args, "--force").exit_code == 0


def test_out_of_memory_mid_run_fails_one_batch_item(cli, images, tmp_path, monkeypatch):
    optimize, calls = stylize.engine.Loop.optimize, []

    def first_runs_out(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return optimize(self, *args, **kwargs)

    monkeypatch.setattr(stylize.engine.Loop, "optimize", first_runs_out)
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        shutil.copy(images["content"], folder / name)
    result = cli(folder, images["style"], "-o", tmp_path / "out", *FAST)
    assert result.exit_code == 1
    assert f"failed: {folder}/a.png: out of memory on cpu at 32x21 px (the plan expected " in result.stderr
    assert "a lower --max-memory makes the plan tile more, e.g. --max-memory " in result.stderr
    assert (tmp_path / "out" / "b__style.jpg").exists()
