"""The memory estimate (memory.py): what it counts, refusing runs that cannot fit, --force, out of memory."""

import shutil

import pytest
import torch
import torchvision

import stylize.engine
import stylize.memory
from conftest import FAST
from stylize import StylizeConfig
from stylize.config import validate

CPU = torch.device("cpu")


def _error(result):
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_estimate_prints_and_runs_nothing(cli, images, tmp_path):
    result = cli(images["content"], images["style"], "-o", tmp_path / "o.png", "--estimate", "--size", "512")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"{images['content']}: 512x341 px, vgg19 ")
    assert " GiB of memory at peak, " in result.stdout and not (tmp_path / "o.png").exists()
    assert result.stdout.strip().endswith(" available: fits")


def test_the_estimate_counts_the_l_bfgs_pairs_a_run_keeps(monkeypatch):
    # L-BFGS keeps a pair of image-sized vectors per step, up to its history: 50 final steps
    # keep 50 pairs, not the 100 it could hold (at 768 px counting 100 erred 25% high).
    monkeypatch.setattr(stylize.memory, "_process_bytes", lambda: 0)
    cpu = torch.device("cpu")

    def need(**options):
        return stylize.memory.estimate(validate(StylizeConfig(history=100, **options), 1), 512, 341, "fp32", cpu)

    pair = 2 * 3 * 512 * 341 * 4
    assert need(iterations=60) - need(iterations=50) == 10 * pair
    assert need(iterations=100) == need(iterations=500)  # the history is full
    # 10 final steps: the 256 px scale's 100 quarter-size pairs are the larger (one scale: 10).
    assert need(iterations=10) - need(iterations=10, min_size=0) == 15 * pair


def test_a_larger_history_raises_the_estimate_once_the_run_fills_it(monkeypatch):
    monkeypatch.setattr(stylize.memory, "_process_bytes", lambda: 0)

    def need(history, iterations):
        cfg = validate(StylizeConfig(history=history, iterations=iterations, min_size=0), 1)
        return stylize.memory.estimate(cfg, 64, 48, "fp32", CPU)

    pair = 2 * 3 * 64 * 48 * 4
    assert need(20, 50) - need(10, 50) == 10 * pair  # 50 steps fill both histories
    assert need(20, 5) == need(10, 5)  # 5 steps fill neither: the larger history costs nothing


@pytest.mark.parametrize("style_layers, content_layer, depth", [
    (None, None, 30),  # relu5_1 is the deepest default layer: module 30 of vgg19.features
    (("relu1_1",), "relu2_1", 7),
])
def test_an_estimate_without_the_weights_loaded_adds_their_bytes(monkeypatch, style_layers, content_layer, depth):
    monkeypatch.setattr(stylize.memory, "_process_bytes", lambda: 123 * 2**20)
    cfg = validate(StylizeConfig(style_layers=style_layers, content_layer=content_layer), 1)
    with torch.device("meta"):
        body = torchvision.models.vgg19().features[:depth]
    weight_bytes = sum(p.numel() * 4 for p in body.parameters())
    unloaded = stylize.memory.estimate(cfg, 96, 64, "fp32", CPU, loaded=False)
    loaded = stylize.memory.estimate(cfg, 96, 64, "fp32", CPU, loaded=True)
    assert unloaded - loaded == weight_bytes


def test_a_run_that_cannot_fit_is_refused_with_the_size_that_fits(cli, images, tmp_path, monkeypatch):
    budget = int(1.5 * 2**30)
    monkeypatch.setattr(stylize.engine, "available", lambda device: budget)
    # The estimate counts the process's resident size, which moves as the test runs: pin it.
    monkeypatch.setattr(stylize.memory, "_process_bytes", lambda: 400 * 2**20)
    result = cli(images["content"], images["style"], "-o", tmp_path / "o.png", "--size", "4096", "--precision", "fp32")
    assert result.exit_code == 2
    line = _error(result)
    assert line.startswith("Error: --size 4096: a 4096x2731 px run needs about ")
    assert line.endswith(" of memory on cpu, more than the 1.5 GiB available; --size {} fits (or pass --force)".format(
        int(line.split("--size ")[2].split()[0])))
    fits = int(line.split("--size ")[2].split()[0])
    config = StylizeConfig(size=fits, precision="fp32")
    stylizer = stylize.engine.Stylizer(config)
    for size, ok in ((fits, True), (fits + 1, False)):
        w, h = size, round(size / (4096 / 2731))  # the content's aspect, as the search used it
        assert (stylizer.memory(w, h)[0] <= budget) == ok


def test_force_runs_anyway(cli, images, tmp_path, monkeypatch):
    monkeypatch.setattr(stylize.engine, "available", lambda device: 1)
    assert cli(images["content"], images["style"], "-o", tmp_path / "o.png", *FAST).exit_code == 2
    assert cli(images["content"], images["style"], "-o", tmp_path / "o.png", *FAST, "--force").exit_code == 0


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
    assert "failed: a.png" not in result.stderr
    assert f"failed: {folder}/a.png: out of memory on cpu at 32x21 px; --size " in result.stderr
    assert (tmp_path / "out" / "b__style.jpg").exists()
