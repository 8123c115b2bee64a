"""How much memory a run needs, and how much there is: the byte counts plan.py budgets with.

A scale's peak adds what dominates it: the process as it stands (torch, the weights),
the activations autograd keeps for one forward + backward of the network over one crop
(the whole image, or a tile with its halo), the style image's forward pass, and the
image-sized buffers: the optimizer's (L-BFGS keeps two per remembered step), the
gradient, the cached point, the content target.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path

import torch

from .config import StylizeConfig
from .features import truncated_body

GIB, MIB = 2**30, 2**20
# Fitted to the peak RSS of default runs at 256, 512 and 768 px on the CPU (README): autograd's
# saved tensors and the transient gradient buffers come to about this many times the summed
# layer outputs in fp32 bytes (least squares: fp32 0.96, bf16 0.83, both rounded up), plus a
# fixed working set of the allocator and oneDNN (fits: 89 and 161 MiB; the larger kept).
ACTIVATION_FACTOR = {"fp32": 1.0, "bf16": 1.0}
WORKSPACE = 160 * MIB
# Image-sized fp32 buffers besides L-BFGS's pairs: the iterate, its gradient, the last finite
# iterate, the evaluator's cached point and gradient, L-BFGS's direction and previous gradient,
# a line-search copy. Adam keeps its two moments instead of pairs and direction.
IMAGE_COPIES = {"lbfgs": 8, "adam": 6}
SAFETY = 0.9  # of the memory available: the default budget leaves the rest to everything else
# A tiled evaluation runs crops of a few shapes one after another; the allocator keeps some of
# each: a 1024 px run in 256 px tiles peaked 387 MiB over the rest of the estimate.
TILED_OVERHEAD = 400 * MIB


@lru_cache(maxsize=32)
def layer_maps(model: str, layers: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    """(channels, stride) of every module output up to the deepest of ``layers``.

    One pass on the meta device (no memory, no time); sizes at any resolution follow.
    """
    body, _, _ = truncated_body(model, list(layers))
    side = 1024  # divisible by every stride, so stride = side // map side
    x = torch.empty(1, 3, side, side, device="meta")
    maps = []
    with torch.no_grad():
        for module in body:
            x = module(x)
            maps.append((x.shape[1], side // x.shape[-1]))
    return tuple(maps)


def activation_elements(model: str, layers: list[str], height: int, width: int) -> tuple[int, int]:
    """(sum, largest) element counts of every layer output for a ``height`` x ``width`` input."""
    sizes = [c * math.ceil(height / s) * math.ceil(width / s) for c, s in layer_maps(model, _taps(layers))]
    return sum(sizes), max(sizes)


def _taps(layers) -> tuple[str, ...]:
    return tuple(dict.fromkeys(layers))


def network_bytes(cfg: StylizeConfig, height: int, width: int, precision: str) -> int:
    """What one forward + backward over a ``height`` x ``width`` crop keeps alive."""
    total, _ = activation_elements(cfg.model, [*cfg.style_layers, cfg.content_layer], height, width)
    return int(ACTIVATION_FACTOR[precision] * total * 4)


def style_pass_bytes(cfg: StylizeConfig, height: int, width: int) -> int:
    """A forward pass without autograd over a style crop: about two layer outputs live at once."""
    _, largest = activation_elements(cfg.model, list(cfg.style_layers), height, width)
    return 2 * largest * 4


def buffer_bytes(cfg: StylizeConfig, height: int, width: int, pairs: int, tiled: bool, masks: int = 0) -> int:
    """Image-sized buffers of a scale: the optimizer's, the gradient's, the content target (and a tiled run's slack)."""
    image = 3 * height * width * 4
    copies = IMAGE_COPIES[cfg.optimizer] + (2 * pairs if cfg.optimizer == "lbfgs" else 0) + (1 if tiled else 0)
    channels, s = layer_maps(cfg.model, (cfg.content_layer,))[-1]
    content = channels * math.ceil(height / s) * math.ceil(width / s) * 4
    # A regional mask: its weights at the image's size, normalised, and pooled to each layer (< 1/3 more).
    regions = masks * height * width * 4 * 2
    return copies * image + content + regions + (TILED_OVERHEAD if tiled else 0)


def fixed_bytes(cfg: StylizeConfig, device: torch.device, loaded: bool = True) -> int:
    """What the run holds whatever the size: on the CPU the process itself (torch, weights)."""
    layers = [*cfg.style_layers, cfg.content_layer]
    if device.type == "cuda":
        return weights_bytes(cfg.model, layers) + WORKSPACE
    return _process_bytes() + (0 if loaded else weights_bytes(cfg.model, layers)) + WORKSPACE


def weights_bytes(model: str, layers: list[str]) -> int:
    body, _, _ = truncated_body(model, layers)
    return sum(param.numel() * 4 for param in body.parameters())


def _process_bytes() -> int:
    """Resident size of this process now: torch, the loaded weights, the decoded images."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def available(device: torch.device) -> int:
    """Bytes a run may use: free CUDA memory, or the RAM available (cgroup limit included).

    On the CPU this counts the process's own size too: the estimates count it.
    """
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_allocated(device)  # what we already hold is ours to reuse
    limits = [_meminfo_available(), _cgroup_room()]
    limits = [v for v in limits if v]
    return min(limits) + _process_bytes() if limits else 0


def budget(cfg: StylizeConfig, device: torch.device) -> int:
    """The bytes a run may plan for: ``max_memory``, or what is available less a safety margin."""
    return cfg.max_memory or int(SAFETY * available(device))


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


def describe(nbytes: int) -> str:
    """1.5 GiB, 800 MiB: what a person reads at a glance."""
    return f"{nbytes / GIB:.1f} GiB" if nbytes >= GIB else f"{nbytes / MIB:.0f} MiB"


def compact(nbytes: int) -> str:
    """1.5GiB, 800MiB: a value to type after --max-memory."""
    return describe(nbytes).replace(" ", "")
