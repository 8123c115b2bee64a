"""Where a run happens and in what precision."""

from __future__ import annotations

import re
from functools import lru_cache

import torch

from ..errors import BadInputError, opt


def resolve_device(spec: str) -> torch.device:
    """auto | cpu | cuda | cuda:N | mps -> a device that exists, or BadInputError."""
    if spec == "auto":
        if torch.cuda.is_available():
            return _tune_cuda(torch.device("cuda"))
        return torch.device("mps" if torch.backends.mps.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not torch.backends.mps.is_available():
            raise BadInputError(f"{opt('device')} mps: Apple MPS is not available on this machine;"
                                f" use {opt('device')} cpu")
        return torch.device("mps")
    match = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if not match:
        raise BadInputError(f"'{spec}' is not one of auto, cpu, cuda, cuda:N, mps", "device")
    if not torch.cuda.is_available():
        raise BadInputError(f"{opt('device')} {spec}: CUDA is not available on this machine; use {opt('device')} cpu")
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise BadInputError(f"{opt('device')} {spec}: there are only {torch.cuda.device_count()} CUDA devices")
    return _tune_cuda(torch.device("cuda", index))


def _tune_cuda(device: torch.device) -> torch.device:
    # No cuDNN autotuning: every scale and every tile shape is a new input size to tune, and the
    # trial algorithms' workspaces stay in the caching allocator. Measured on an H200 (512 px
    # default run): 19.3 s and 32.6 GiB peak with it, 6.7 s and 0.59 GiB without.
    torch.backends.cudnn.benchmark = False
    # TF32 tensor cores for fp32 convolutions and matmuls (the Gram matrices): their 10-bit
    # mantissa holds bf16 features exactly, and fp32 runs lose no visible quality.
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = True
    return device


def resolve_precision(spec: str, device: torch.device) -> str:
    """auto | fp32 | bf16 -> "fp32" or "bf16" for the network's forward pass.

    bf16 has fp32's exponent range, so unlike fp16 it cannot overflow the activations
    that Gram matrices square; auto picks it only where the hardware runs it fast.
    """
    if spec == "fp32":
        return "fp32"
    fast = _fast_bf16(device)
    if spec == "bf16":
        if device.type == "mps":
            raise BadInputError(f"{opt('precision')} bf16: not supported on mps; use {opt('precision')} fp32")
        return "bf16"
    return "bf16" if fast else "fp32"


def _fast_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device)[0] >= 8  # Ampere and newer: bf16 tensor cores
    if device.type == "cpu":
        return _cpu_has_bf16_units()
    return False


BF16_UNITS = ("avx512_bf16", "amx_bf16")  # x86 units oneDNN runs bf16 convolutions on about 2x as fast


@lru_cache(maxsize=1)
def _cpu_has_bf16_units() -> bool:
    return bool(cpu_bf16_units())


def cpu_bf16_units() -> list[str]:
    """Which of BF16_UNITS this CPU has, from torch's own detection (cpuinfo, on every OS).

    A torch without ``torch.cpu.get_capabilities`` (older releases) reports none: fp32, the safe choice.
    """
    capabilities = getattr(torch.cpu, "get_capabilities", None)
    found = capabilities() if capabilities else {}
    return [unit for unit in BF16_UNITS if found.get(unit)]


def cpu_name() -> str:
    """The CPU's model name as torch's detection reads it, else what the platform module says."""
    import platform

    capabilities = getattr(torch.cpu, "get_capabilities", None)
    return (capabilities() if capabilities else {}).get("cpu_name") or platform.processor() or platform.machine()
