"""How much memory a run will need, and how much there is, checked before any work.

The estimate adds what dominates a run: the process as it stands (torch, the weights),
the activations autograd keeps for one forward + backward at the largest scale
(shapes found by running the network on the meta device: no memory, no time), and
the optimizer's copies of the image (L-BFGS keeps 2 x history of them).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .config import StylizeConfig
from .features import truncated_body
from .optimize import schedule

GIB = 2**30
# Fitted to the peak RSS of default runs at 256, 512 and 768 px on the CPU (README): autograd's
# saved tensors and the transient gradient buffers come to about this many times the summed
# layer outputs in fp32 bytes (least squares: fp32 0.96, bf16 0.83, both rounded up), plus a
# fixed working set of the allocator and oneDNN (fits: 89 and 161 MiB; the larger kept).
ACTIVATION_FACTOR = {"fp32": 1.0, "bf16": 1.0}
WORKSPACE = 160 * 2**20


def activation_elements(model: str, layers: list[str], height: int, width: int) -> tuple[int, int]:
    """(sum, largest) element counts of every layer output up to the deepest of ``layers``."""
    body, _, _ = truncated_body(model, layers)
    x = torch.empty(1, 3, height, width, device="meta")
    total = largest = 0
    with torch.no_grad():
        for module in body:
            try:
                x = module(x)
            except RuntimeError:  # smaller than the network allows: too small to matter here
                break
            total, largest = total + x.numel(), max(largest, x.numel())
    return total, largest


def estimate(cfg: StylizeConfig, width: int, height: int, precision: str, device: torch.device,
             loaded: bool = True) -> int:
    """Peak bytes of a run at ``width`` x ``height`` (the output size, the largest scale).

    On the CPU the process's own size counts, weights included once ``loaded``; without
    them (``--estimate`` loads none) their bytes are added.
    """
    layers = list(dict.fromkeys([*cfg.style_layers, cfg.content_layer]))
    total, largest = activation_elements(cfg.model, layers, height, width)
    activations = ACTIVATION_FACTOR[precision] * total * 4
    image = 3 * height * width * 4
    copies = 2 * _pairs_kept(cfg) + 8 if cfg.optimizer == "lbfgs" else 6
    style_side = round(max(width, height) * cfg.style_scale)
    style_pass = 2 * largest * 4 * (style_side / max(width, height)) ** 2  # no_grad: two live layers
    need = activations + copies * image + style_pass + WORKSPACE
    if device.type == "cuda":
        return int(need + _weights_bytes(cfg, layers))
    return int(need + _process_bytes() + (0 if loaded else _weights_bytes(cfg, layers)))


def _pairs_kept(cfg: StylizeConfig) -> float:
    """L-BFGS's (s, y) pairs at the peak, in output-sized images: one per step, up to ``cfg.history``.

    Each scale starts a fresh L-BFGS; a coarse scale's pairs are smaller by its pixel ratio.
    """
    return max(min(cfg.history, n) * (size / cfg.size) ** 2 for size, n in schedule(cfg))


def _weights_bytes(cfg: StylizeConfig, layers: list[str]) -> int:
    body, _, _ = truncated_body(cfg.model, layers)
    return sum(param.numel() * 4 for param in body.parameters())


def _process_bytes() -> int:
    """Resident size of this process now: torch, the loaded weights, the decoded images."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def available(device: torch.device) -> int:
    """Bytes a run may use: free CUDA memory, or the RAM available (cgroup limit included)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_allocated(device)  # what we already hold is ours to reuse
    limits = [_meminfo_available(), _cgroup_room()]
    limits = [v for v in limits if v]
    return min(limits) + _process_bytes() if limits else 0


def _meminfo_available() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _cgroup_room() -> int:
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        return int(limit) - used if limit != "max" else 0
    except (OSError, ValueError):
        return 0


def largest_fitting_size(cfg: StylizeConfig, aspect: float, precision: str, device: torch.device,
                         budget: int, loaded: bool = True) -> int:
    """The largest output size (long edge) whose estimate fits ``budget``; 0 if none does."""
    def fits(size: int) -> bool:
        w, h = (size, max(1, round(size / aspect))) if aspect >= 1 else (max(1, round(size * aspect)), size)
        return estimate(cfg, w, h, precision, device, loaded) <= budget

    low, high = 0, cfg.size
    while low < high:  # binary search: the estimate grows with the size
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    return low


def describe(nbytes: int) -> str:
    return f"{nbytes / GIB:.1f} GiB"
