"""How much memory a run needs, and how much there is: the byte counts plan.py budgets with.

A scale's peak adds what dominates it: the process as it stands (torch, the weights),
the activations autograd keeps for one forward + backward of the network over one crop
(the whole image, or a tile with its halo), the style image's forward pass, and the
image-sized buffers: the optimizer's (L-BFGS keeps two per remembered step), the
gradient, the cached point, the content target.
"""

from __future__ import annotations

import ctypes
import math
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Optional

import psutil
import torch

from ..config import StylizeConfig
from ..net.features import truncated_body

GIB, MIB = 2**30, 2**20
# Autograd's saved tensors and the transient gradient buffers come to about this many times
# the summed layer outputs in fp32 bytes, plus a working set of the allocator and oneDNN.
# Fitted, with the L-BFGS pairs' cost, to the peak RSS of default runs (bf16, AMD EPYC, glibc
# never trimming within a scale) at 1024 px with 10 and 50 iterations and at 2048 px: bf16
# 0.82 (the fit of 256-768 px runs before: 0.83). fp32 keeps its earlier fit, 0.96, rounded up.
ACTIVATION_FACTOR = {"fp32": 1.0, "bf16": 0.82}
WORKSPACE = 120 * MIB
# Each step L-BFGS remembers keeps two copies of the image, allocated between evaluations, where
# they and the small blocks that describe them split the blocks the pass freed: the next pass
# cannot reuse the pieces whole, and the heap grows by a splinter a step. The splinters grow
# faster than the crop whose pass left the blocks: 1.04% of its activation bytes less 5 MiB, a
# step: 8.0 MiB at 1024 px, 47 at 2048 px, none at 512 px (whose estimate is over its peaks
# already: the process is most of it). Peaks of the same run differ by up to 10% (2048 px: six
# runs, 10,877 to 11,974 MiB; 1024 px: eight, 3,312 to 3,497; AMD EPYC, bf16), so the line
# puts each size's estimate at its highest run less 1.5%: a budget must hold the unlucky run.
# A flat 0.9 image copies a step before (7.2 MiB at 1024 px) put 2048 px 9.1% under its highest.
PAIR_COPIES = 2
SPLINTER_SHARE, SPLINTER_OFFSET = 0.0104, 5 * MIB
# Image-sized fp32 buffers besides L-BFGS's pairs: the iterate, its gradient, the last finite
# iterate, the evaluator's cached point and gradient, L-BFGS's direction and previous gradient,
# a line-search copy. Adam keeps its two moments instead of pairs and direction.
IMAGE_COPIES = {"lbfgs": 8, "adam": 6}
SAFETY = 0.9  # of the memory available: the default budget leaves the rest to everything else
# A tiled scale's heap keeps more than one crop's pass: blocks freed by one crop's pass that
# the next, of another shape, or the first pass's shorter one, cannot reuse whole. It grows
# faster than the crop: 46.5% of a crop's network bytes less 140 MiB, a line through the two
# ends of what was measured (AMD EPYC, bf16), with the pairs' splinters counted as above: a
# 4096 px run in 3 strips of 2725x1368 px with history 10 (three runs: 15,163 to 16,228 MiB;
# the line meets the highest less 1.8%) and a 1024 px one in 2 tiles of 681x512 px with
# history 5 (1,954 and 1,957 MiB). It puts the other tiled runs within 2%: the 4096 px strips
# with history 5 (14,078 MiB) 1.6% over, the 1024 px strips (1,823 MiB) 0.4% under. Peaks
# differ from run to run: docs/benchmarks.md.
TILED_SHARE, TILED_OFFSET = 0.465, 140 * MIB


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


def network_bytes(cfg: StylizeConfig, height: int, width: int, precision: str, masks: int = 0) -> int:
    """What one forward + backward over a ``height`` x ``width`` crop keeps alive (``masks``: regional styles)."""
    regions = region_bytes(cfg, height, width, masks) + region_gradient_bytes(cfg, height, width, masks)
    return activation_bytes(cfg, height, width, precision) + regions


def activation_bytes(cfg: StylizeConfig, height: int, width: int, precision: str) -> int:
    """The network's own part of a pass over a ``height`` x ``width`` crop: its layers' outputs."""
    total, _ = activation_elements(cfg.model, [*cfg.style_layers, cfg.content_layer], height, width)
    return int(ACTIVATION_FACTOR[precision] * total * 4)


def _style_maps(cfg: StylizeConfig) -> list[tuple[int, int]]:
    """(channels, stride) of every style layer's map."""
    return [layer_maps(cfg.model, (layer,))[-1] for layer in cfg.style_layers]


def _owned_maps(cfg: StylizeConfig, height: int, width: int) -> list[int]:
    """Element counts of every style layer's map: what a region's owned copy of it holds."""
    return [c * math.ceil(height / s) * math.ceil(width / s) for c, s in _style_maps(cfg)]


def region_bytes(cfg: StylizeConfig, height: int, width: int, masks: int) -> int:
    """What ``masks`` regional styles keep for the backward besides the network's activations.

    Each region keeps its own fp32 copy of every style layer's owned map (the features times
    the square root of its weights: its Gram product's input), and each past the first its own
    C x C statistics.
    """
    grams = sum(c * c for c, _ in _style_maps(cfg))
    return (masks * sum(_owned_maps(cfg, height, width)) + max(masks - 1, 0) * grams) * 4


def region_gradient_bytes(cfg: StylizeConfig, height: int, width: int, masks: int) -> int:
    """The backward's gradient of one region's owned map, while every saved copy is still alive.

    The backward takes the regions one at a time, so one gradient of the largest owned map
    (relu1_1's) at a time. Without it the two-mask 1024 px job's estimate was 5.0% under its
    peak of 4,307 MiB; with it, 1.1% under that, and 0.2% under to 5.8% over three more runs
    (4,007 to 4,250 MiB; AMD EPYC, bf16: peaks differ from run to run, docs/benchmarks.md).
    """
    return max(_owned_maps(cfg, height, width)) * 4 if masks else 0


def style_pass_bytes(cfg: StylizeConfig, height: int, width: int) -> int:
    """A forward pass without autograd over a style crop: about two layer outputs live at once."""
    _, largest = activation_elements(cfg.model, list(cfg.style_layers), height, width)
    return 2 * largest * 4


def buffer_bytes(cfg: StylizeConfig, height: int, width: int, tiled: bool, masks: int = 0) -> int:
    """Image-sized buffers of a scale besides L-BFGS's pairs: the optimizer's, the gradient's, the content target."""
    image = image_bytes(height, width)
    copies = IMAGE_COPIES[cfg.optimizer] + (1 if tiled else 0)
    channels, s = layer_maps(cfg.model, (cfg.content_layer,))[-1]
    content = channels * math.ceil(height / s) * math.ceil(width / s) * 4
    # A regional mask: its weights at the image's size, moments, and pooled to each layer (< 1/3 more).
    regions = masks * height * width * 4 * 2
    return copies * image + content + regions


def history_bytes(cfg: StylizeConfig, height: int, width: int, pairs: int, activations: int) -> int:
    """L-BFGS's ``pairs`` remembered steps over a ``height`` x ``width`` image, with the splinters
    each leaves in the blocks of a pass whose layer outputs come to ``activations`` bytes."""
    if cfg.optimizer != "lbfgs":
        return 0
    splinter = max(0, int(SPLINTER_SHARE * activations) - SPLINTER_OFFSET)
    return pairs * (PAIR_COPIES * image_bytes(height, width) + splinter)


def image_bytes(height: int, width: int) -> int:
    """One fp32 RGB copy of a ``height`` x ``width`` image: the unit the optimizer's buffers come in."""
    return 3 * height * width * 4


def tiled_slack(network: int) -> int:
    """What a tiled scale holds besides its crop's ``network`` bytes: blocks the heap keeps."""
    return max(0, int(TILED_SHARE * network) - TILED_OFFSET)


def fixed_bytes(cfg: StylizeConfig, device: torch.device, loaded: bool = True) -> int:
    """What the run holds whatever the size: on the CPU the process itself (torch, weights)."""
    layers = [*cfg.style_layers, cfg.content_layer]
    if device.type in ("cuda", "mps"):  # the device's own memory: the process's RSS is not in it
        return weights_bytes(cfg.model, layers) + WORKSPACE
    return _process_bytes() + (0 if loaded else weights_bytes(cfg.model, layers)) + WORKSPACE


def weights_bytes(model: str, layers: list[str]) -> int:
    body, _, _ = truncated_body(model, layers)
    return sum(param.numel() * 4 for param in body.parameters())


def _process_bytes() -> int:
    """Resident size of this process now: torch, the loaded weights, the decoded images (0: unknown)."""
    try:
        return psutil.Process().memory_info().rss
    except (psutil.Error, OSError):
        return 0


def available(device: torch.device) -> Optional[int]:
    """Bytes a run may use, or None where this machine gives no reading.

    CUDA: free memory plus what torch already holds. MPS: Metal's recommended working set
    less what the driver has allocated. CPU: the RAM available (psutil, on every platform),
    or the room left under a Linux cgroup limit where that is smaller; this counts the
    process's own size too, since the estimates count it.
    """
    return available_from(device)[0]


def available_from(device: torch.device) -> tuple[Optional[int], str]:
    """(bytes or None, where the figure came from), for --estimate and --doctor."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_allocated(device), "CUDA free memory"  # ours is ours to reuse
    if device.type == "mps":
        return _mps_room()
    readings = [(v, where) for v, where in ((_ram_available(), "RAM available"), (_cgroup_room(), "cgroup limit"))
                if v]
    if not readings:
        return None, "no reading of the memory available on this machine"
    room, where = min(readings)
    return room + _process_bytes(), where


def budget(cfg: StylizeConfig, device: torch.device) -> Optional[int]:
    """The bytes a run may plan for: ``max_memory``, or what is available less a safety margin.

    None: nothing to plan within (no reading): the run is planned without a limit, never refused.
    """
    if cfg.max_memory:
        return cfg.max_memory
    room = available(device)
    return None if room is None else int(SAFETY * room)


def _ram_available() -> int:
    try:
        return psutil.virtual_memory().available
    except (psutil.Error, OSError):
        return 0


def _cgroup_room() -> int:
    """Room under a cgroup v2 memory limit (Linux containers); 0 where there is none or no such file."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        return int(limit) - used if limit != "max" else 0
    except (OSError, ValueError):
        return 0


def _mps_room() -> tuple[Optional[int], str]:
    """Apple GPUs share the RAM: Metal recommends a working set; what the driver holds is taken."""
    mps = getattr(torch, "mps", None)
    recommended = getattr(mps, "recommended_max_memory", None)
    if recommended is None:
        return None, "no reading of MPS memory in this torch"
    try:
        room = recommended() - mps.driver_allocated_memory() + mps.current_allocated_memory()
    except RuntimeError:
        return None, "no reading of MPS memory"
    return room, "MPS recommended working set"


def describe(nbytes: int) -> str:
    """1.5 GiB, 800 MiB: what a person reads at a glance."""
    return f"{nbytes / GIB:.1f} GiB" if nbytes >= GIB else f"{nbytes / MIB:.0f} MiB"


def compact(nbytes: int) -> str:
    """1.5GiB, 800MiB: a value to type after --max-memory."""
    return describe(nbytes).replace(" ", "")


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4


def keep_freed_memory() -> bool:
    """Has glibc's malloc keep freed memory for the next evaluation instead of handing it back.

    glibc gives every block over 32 MiB (an image-sized L-BFGS vector, a layer's activations)
    its own mapping, returned to the kernel when freed; the next evaluation's blocks are new
    pages, which the kernel zeroes first. In a 1024 px run that was 18% of the CPU time
    (21.5 s of system time against 96 s of user time over 20 iterations, AMD EPYC). Served from
    the heap, never trimmed within a scale, freed blocks are reused as they are, as CUDA's
    caching allocator does on a GPU (process-wide, as that is). (A threshold of 2 GiB, the
    largest an int says in bytes, still gave back a 2048 px pass's 6 GiB after each
    evaluation: 1.35 M page faults and 6.3 s of system time in 3 evaluations, against 0.11 M
    and 1.2 s never trimmed; -1 is glibc's largest size.) Between scales the heap is given
    back (``release_freed_memory``). Linux with glibc only: other C libraries and systems are
    left as they are. Returns whether the setting took.
    """
    libc = _glibc()
    try:
        return libc is not None and bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, -1))
    except AttributeError:
        return False


def release_freed_memory() -> None:
    """Hands the heap's free memory back to the system (glibc; elsewhere nothing), between scales.

    A scale's blocks are the previous one's sizes times four: kept, the freed ones sat amid the
    heap, too small for the new requests. A 2048 px run peaked at 11,779 MiB with 5.4% of its
    CPU time in the kernel; trimmed, 11,357 MiB and 2.6% (AMD EPYC). Within a scale L-BFGS's
    vectors, allocated between evaluations, still split freed blocks: ``history_bytes`` counts that.
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def _glibc():
    confstr = getattr(os, "confstr", None)
    try:
        if sys.platform != "linux" or confstr is None or not (confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return None
        return ctypes.CDLL("libc.so.6")
    except (OSError, ValueError):
        return None
