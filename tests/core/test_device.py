"""Device and precision choice (device.py): auto picks, unavailable CUDA, malformed device names."""

import pytest
import torch

import stylize.core.device
from stylize.core.device import resolve_device, resolve_precision
from stylize.errors import BadInputError, cli_flag

from conftest import FAST, only_line


def test_precision_choice(monkeypatch):
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32"
    assert resolve_precision("bf16", cpu) == "bf16"
    monkeypatch.setattr(stylize.core.device, "_cpu_has_bf16_units", lambda: False)
    assert resolve_precision("auto", cpu) == "fp32"
    monkeypatch.setattr(stylize.core.device, "_cpu_has_bf16_units", lambda: True)
    assert resolve_precision("auto", cpu) == "bf16"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_unavailable(cli, images, tmp_path):
    result = cli(images["content"], images["style"], "-o", tmp_path / "o.png", "--device", "cuda", *FAST)
    assert result.exit_code == 2
    assert only_line(result) == "Error: --device cuda: CUDA is not available on this machine; use --device cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:7"])
def test_cuda_devices_are_refused_without_cuda(spec):
    with pytest.raises(BadInputError) as raised:
        resolve_device(spec)
    assert str(raised.value) == f"device {spec}: CUDA is not available on this machine; use device cpu"
    assert raised.value.render(cli_flag) == (f"--device {spec}: CUDA is not available on this machine;"
                                             " use --device cpu")


@pytest.mark.parametrize("spec", ["tpu", "cuda:", "cuda:x", "cuda7", "CPU"])
def test_malformed_device_names_are_refused(spec):
    with pytest.raises(BadInputError, match=rf"^device: '{spec}' is not one of auto, cpu, cuda, cuda:N, mps$"):
        resolve_device(spec)


def test_cpu_is_always_there():
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("found, fast", [({"avx512_bf16": True, "avx2": True}, True), ({"amx_bf16": True}, True),
                                         ({"avx512_f": True, "avx512_bf16": False}, False), ({}, False)])
def test_cpu_bf16_comes_from_torchs_own_detection(monkeypatch, found, fast):
    stylize.core.device._cpu_has_bf16_units.cache_clear()
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: found)
    try:
        assert stylize.core.device._cpu_has_bf16_units() is fast
        assert resolve_precision("auto", torch.device("cpu")) == ("bf16" if fast else "fp32")
    finally:
        stylize.core.device._cpu_has_bf16_units.cache_clear()


def test_a_torch_without_cpu_capabilities_runs_fp32(monkeypatch):
    stylize.core.device._cpu_has_bf16_units.cache_clear()
    monkeypatch.delattr(torch.cpu, "get_capabilities")
    try:
        assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    finally:
        stylize.core.device._cpu_has_bf16_units.cache_clear()


def test_cuda_runs_without_cudnn_autotuning(monkeypatch):
    """Autotuning every scale's and tile's shape kept 32.6 GiB of trial workspaces at 512 px on an H200."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert not torch.backends.cudnn.benchmark and torch.backends.cuda.matmul.allow_tf32
