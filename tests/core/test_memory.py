"""Byte counts (memory.py): buffers, network activations, the process, what is available."""

import shutil

import pytest
import torch
import torchvision

import stylize.core.engine
import stylize.core.memory
from stylize import StylizeConfig
from stylize.config import validate
from stylize.core.memory import (
    activation_elements,
    buffer_bytes,
    compact,
    describe,
    fixed_bytes,
    history_bytes,
    network_bytes,
    region_bytes,
    tiled_slack,
)
from stylize.net.features import truncated_body

from conftest import FAST, only_line

CPU = torch.device("cpu")


def test_l_bfgs_pairs_cost_two_image_copies_each_and_the_splinters():
    cfg = validate(StylizeConfig(), 1)
    image = 3 * 512 * 341 * 4
    assert buffer_bytes(cfg, 341, 512, True) - buffer_bytes(cfg, 341, 512, False) == image  # the tiled gradient
    # a step: two copies, and a splinter that grows faster than the pass whose blocks it splits
    assert history_bytes(cfg, 341, 512, 10, 2**30) == 10 * (2 * image + int(0.0104 * 2**30) - 5 * 2**20)
    assert history_bytes(cfg, 341, 512, 10, 400 * 2**20) == 10 * 2 * image  # none from a small pass
    big = history_bytes(cfg, 341, 512, 10, 4 * 2**30) - history_bytes(cfg, 341, 512, 10, 2**30)
    assert big == pytest.approx(10 * 0.0104 * 3 * 2**30, abs=10)
    # the blocks a tiled scale's heap keeps: a share of its crop's pass that grows faster than the crop
    assert tiled_slack(100 * 2**20) == 0
    assert tiled_slack(1 * 2**30) == int(0.465 * 2**30) - 140 * 2**20
    assert tiled_slack(10 * 2**30) == int(0.465 * 10 * 2**30) - 140 * 2**20
    adam = validate(StylizeConfig(optimizer="adam"), 1)
    assert history_bytes(adam, 341, 512, 50, 2**30) == 0
    # fewer image-sized buffers: its two moments, no direction or line search
    assert buffer_bytes(adam, 341, 512, False) == buffer_bytes(cfg, 341, 512, False) - 2 * image


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
    monkeypatch.setattr(stylize.core.memory, "_process_bytes", lambda: 123 * 2**20)
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
    line = only_line(result)
    assert line.startswith("Error: --size 8192: at 4096x2731 px the smallest plan (")  # the first scale that fits no plan
    assert " of memory on cpu, more than the 3.0 GiB allowed by --max-memory; lower --size" in line
    assert not (tmp_path / "o.png").exists()


def test_force_runs_anyway(cli, images, tmp_path):
    args = [images["content"], images["style"], "-o", tmp_path / "o.png", *FAST, "--max-memory", "1MiB"]
    assert cli(*args).exit_code == 2
    assert cli(*args, "--force").exit_code == 0


def test_out_of_memory_mid_run_fails_one_batch_item(cli, images, tmp_path, monkeypatch):
    optimize, calls = stylize.core.engine.Loop.optimize, []

    def first_runs_out(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return optimize(self, *args, **kwargs)

    monkeypatch.setattr(stylize.core.engine.Loop, "optimize", first_runs_out)
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        shutil.copy(images["content"], folder / name)
    result = cli(folder, images["style"], "-o", tmp_path / "out", *FAST)
    assert result.exit_code == 1
    assert f"failed: {folder}/a.png: out of memory on cpu at 32x21 px (the plan expected " in result.stderr
    assert "a lower --max-memory makes the plan tile more, e.g. --max-memory " in result.stderr
    assert (tmp_path / "out" / "b__style.jpg").exists()


# ---------------------------------------------------------------- every platform's reading

GIB = 2**30


class _Unreadable:
    """A psutil whose readings fail, as a platform it does not support would."""

    Error = stylize.core.memory.psutil.Error

    @staticmethod
    def virtual_memory():
        raise OSError("no reading")

    @staticmethod
    def Process():  # noqa: N802 (psutil's name)
        raise OSError("no reading")


def _ram(monkeypatch, available):
    monkeypatch.setattr(stylize.core.memory.psutil, "virtual_memory", lambda: type("VM", (), {"available": available}))


def test_the_cpu_reading_is_psutils_ram_plus_this_process(monkeypatch):
    _ram(monkeypatch, 8 * GIB)
    monkeypatch.setattr(stylize.core.memory, "_cgroup_room", lambda: 0)  # no container limit (macOS, Windows)
    monkeypatch.setattr(stylize.core.memory, "_process_bytes", lambda: GIB)
    assert stylize.core.memory.available_from(CPU) == (9 * GIB, "RAM available")
    assert stylize.core.memory.budget(StylizeConfig(), CPU) == int(0.9 * 9 * GIB)


def test_a_smaller_cgroup_limit_wins_over_the_ram(monkeypatch):
    _ram(monkeypatch, 8 * GIB)
    monkeypatch.setattr(stylize.core.memory, "_cgroup_room", lambda: 2 * GIB)
    monkeypatch.setattr(stylize.core.memory, "_process_bytes", lambda: 0)
    assert stylize.core.memory.available_from(CPU) == (2 * GIB, "cgroup limit")


def test_no_proc_and_no_sys_are_no_reading_only_where_psutil_has_none_either(monkeypatch):
    real = stylize.core.memory.Path.read_text

    def no_proc(path, *args, **kwargs):
        if str(path).startswith(("/proc", "/sys")):
            raise PermissionError(f"no such thing here: {path}")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(stylize.core.memory.Path, "read_text", no_proc)
    assert stylize.core.memory._cgroup_room() == 0
    assert stylize.core.memory.available(CPU) > 0  # psutil reads the machine its own way
    monkeypatch.setattr(stylize.core.memory, "psutil", _Unreadable)
    assert stylize.core.memory.available_from(CPU) == (None, "no reading of the memory available on this machine")
    assert stylize.core.memory.budget(StylizeConfig(), CPU) is None
    assert stylize.core.memory.budget(StylizeConfig(max_memory=GIB), CPU) == GIB  # what the user says still holds


def test_a_run_without_any_memory_reading_is_planned_not_refused(cli, images, tmp_path, monkeypatch):
    monkeypatch.setattr(stylize.core.memory, "psutil", _Unreadable)
    monkeypatch.setattr(stylize.core.memory, "_cgroup_room", lambda: 0)
    out = tmp_path / "o.png"
    result = cli(images["content"], images["style"], "-o", out, "--size", "32", "--iterations", "2", "-q")
    assert result.exit_code == 0, result.stderr  # bundled weights: the default a new user runs
    assert out.exists()
    estimate = cli(images["content"], images["style"], "--estimate", "--size", "64")
    assert estimate.exit_code == 0
    assert ("memory available unknown (no reading of the memory available on this machine), planned without"
            " a limit:") in estimate.stdout
    assert ": fits;" in estimate.stdout


def test_cuda_reads_its_free_memory_and_what_torch_holds(monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (5 * GIB, 80 * GIB))
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device: GIB)
    assert stylize.core.memory.available_from(torch.device("cuda", 0)) == (6 * GIB, "CUDA free memory")


def test_mps_reads_metals_working_set_less_what_the_driver_holds(monkeypatch):
    monkeypatch.setattr(torch.mps, "recommended_max_memory", lambda: 16 * GIB, raising=False)
    monkeypatch.setattr(torch.mps, "driver_allocated_memory", lambda: 3 * GIB, raising=False)
    monkeypatch.setattr(torch.mps, "current_allocated_memory", lambda: GIB, raising=False)
    mps = torch.device("mps")
    assert stylize.core.memory.available_from(mps) == (14 * GIB, "MPS recommended working set")
    cfg = validate(StylizeConfig(weights="random"), 1)
    assert fixed_bytes(cfg, mps) < 200 * 2**20  # the weights and a workspace, not this process's RSS
    monkeypatch.delattr(torch.mps, "recommended_max_memory")
    assert stylize.core.memory.available_from(mps) == (None, "no reading of MPS memory in this torch")


def test_each_regional_style_is_counted_with_the_copy_of_the_maps_its_backward_keeps():
    """The plan's extra bytes per mask = what autograd keeps beyond an unmasked pass (fp32, float storages)."""
    from stylize.core.objective import Objective, Region, style_moments, style_targets
    from stylize.net.features import build_extractor
    from stylize.net.weights import load_weights

    from conftest import smooth_image

    cfg = validate(StylizeConfig(weights="random"), 2)
    extractor = build_extractor("vgg19", load_weights("vgg19", "random"), [*cfg.style_layers, cfg.content_layer])
    content = smooth_image(96, 64, seed=1)
    targets = style_targets([style_moments(extractor, smooth_image(64, 64, seed=2), cfg)], cfg)
    h, w = content.shape[-2:]
    halves = [torch.zeros(h, w), torch.zeros(h, w)]
    halves[0][:, :w // 2], halves[1][:, w // 2:] = 1.0, 1.0

    def saved(style) -> int:
        storages = {}

        def pack(t):
            if t.is_floating_point():
                storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        objective = Objective(extractor, content, style, cfg)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            objective(content.clone().requires_grad_(True))
        return sum(storages.values())

    kept = saved([Region(targets, m) for m in halves]) - saved(targets)
    counted = region_bytes(cfg, h, w, masks=2)
    assert 0.9 * kept <= counted <= 1.1 * kept, (kept, counted)
    # and the backward's gradient of one region's largest owned map (relu1_1's, 64 channels at full size)
    gradient = 64 * h * w * 4
    assert network_bytes(cfg, h, w, "fp32", masks=2) - network_bytes(cfg, h, w, "fp32") == counted + gradient


def test_freed_memory_is_kept_where_the_c_library_is_glibc(monkeypatch):
    """mallopt(M_MMAP_MAX, 0) and no trim threshold (-1: the largest size) on glibc, the heap trimmed between
    scales; nothing on any other system."""
    calls = []

    class Libc:
        def mallopt(self, param, value):
            calls.append((param, value))
            return 1

        def malloc_trim(self, pad):
            calls.append(("trim", pad))
            return 1

    monkeypatch.setattr(stylize.core.memory.ctypes, "CDLL", lambda name: Libc())
    monkeypatch.setattr(stylize.core.memory.sys, "platform", "linux")
    monkeypatch.setattr(stylize.core.memory.os, "confstr", lambda name: "glibc 2.36", raising=False)
    assert stylize.core.memory.keep_freed_memory() and calls == [(-4, 0), (-1, -1)]
    stylize.core.memory.release_freed_memory()
    assert calls[-1] == ("trim", 0)
    monkeypatch.setattr(stylize.core.memory.os, "confstr", lambda name: None, raising=False)  # musl
    assert not stylize.core.memory.keep_freed_memory()
    for platform in ("darwin", "win32"):
        monkeypatch.setattr(stylize.core.memory.sys, "platform", platform)
        assert not stylize.core.memory.keep_freed_memory()
        stylize.core.memory.release_freed_memory()
    assert len(calls) == 3
