"""Optical flow between frames, warping, and where the flow can be trusted (Ruder et al. 2016).

Flows are (H, W, 2) float32 arrays in pixels, (dx, dy): ``flow_ab`` maps each pixel x of
frame a to x + flow_ab(x) in frame b, so ``warp(b, flow_ab)`` looks like a.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import BadInputError


def _cv2():
    try:
        import cv2
    except ImportError:
        raise BadInputError("video needs PyAV and OpenCV: pip install 'stylize[video]'") from None
    return cv2


class DISFlow:
    """OpenCV's DIS flow (Kroeger et al. 2016): no weights, a few ms per 512 px frame on a CPU."""

    def __init__(self):
        cv2 = _cv2()
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def __call__(self, a: Image.Image, b: Image.Image) -> np.ndarray:
        gray = lambda im: np.asarray(im.convert("L"))  # noqa: E731
        return self._dis.calc(gray(a), gray(b), None)


class RAFTFlow:
    """torchvision's RAFT (Teed and Deng 2020), the small model: sharper motion edges than DIS,
    slower on a CPU. Its weights come from torch's cache (downloaded once) or ``weights``, a
    state_dict file."""

    def __init__(self, weights: str | None = None, device: str | torch.device = "cpu"):
        from torchvision.models.optical_flow import Raft_Small_Weights, raft_small

        from ..errors import opt
        from ..net.weights import download_state_dict, load_torch_file

        if weights is None:
            state = download_state_dict(Raft_Small_Weights.C_T_V2, f"{opt('flow')} raft: could not download its weights",
                                        f"offline, use {opt('flow')} dis or give a file with {opt('flow_weights')}")
        else:
            state = load_torch_file(weights, f"{opt('flow_weights')} '{weights}'", "not a RAFT state_dict")
        self.model = raft_small(weights=None)
        try:
            self.model.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError):
            raise BadInputError(f"'{weights}': not the state_dict of torchvision's raft_small", "flow_weights") from None
        self.model.eval().requires_grad_(False).to(device)
        self.device = device

    def __call__(self, a: Image.Image, b: Image.Image) -> np.ndarray:
        from .imageio import to_tensor

        h, w = a.height, a.width
        # RAFT works at 1/8 resolution and pools that 3 times more: sides divisible by 8, >= 128 px.
        pad = (0, max(128, w + -w % 8) - w, 0, max(128, h + -h % 8) - h)
        ta, tb = (F.pad(to_tensor(im) * 2 - 1, pad, mode="replicate").to(self.device) for im in (a, b))
        with torch.no_grad():
            flow = self.model(ta, tb, num_flow_updates=12)[-1]
        return flow[0, :, :h, :w].permute(1, 2, 0).float().cpu().numpy()


def make_flow(kind: str, weights: str | None = None, device: str | torch.device = "cpu"):
    return RAFTFlow(weights, device) if kind == "raft" else DISFlow()


def warp(image: torch.Tensor, flow: np.ndarray) -> torch.Tensor:
    """(1, C, H, W) sampled at x + flow(x), bilinear; outside the frame: the nearest edge."""
    _, _, h, w = image.shape
    grid = _grid(flow, h, w).to(image.device, image.dtype)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _grid(flow: np.ndarray, h: int, w: int) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    f = torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32))
    x, y = xs + f[..., 0], ys + f[..., 1]
    return torch.stack([2 * x / max(w - 1, 1) - 1, 2 * y / max(h - 1, 1) - 1], dim=-1)[None]


def reliable(back: np.ndarray, forward: np.ndarray) -> torch.Tensor:
    """(1, 1, H, W) weights: 1 where the flow is trusted, 0 at disocclusions and motion edges.

    ``back``: this frame -> the previous one; ``forward``: the previous frame -> this one.
    Ruder et al.'s tests: going back and forward again must land near the start
    (|f~ + b|^2 <= 0.01 (|f~|^2 + |b|^2) + 0.5, f~ the forward flow at x + b(x)), the flow
    must not change abruptly (|grad b|^2 <= 0.01 |b|^2 + 0.002), and x + b(x) must be inside
    the previous frame.
    """
    h, w = back.shape[:2]
    b = torch.from_numpy(np.ascontiguousarray(back, dtype=np.float32)).permute(2, 0, 1)[None]
    f = warp(torch.from_numpy(np.ascontiguousarray(forward, dtype=np.float32)).permute(2, 0, 1)[None], back)
    norm2 = lambda v: v.pow(2).sum(1, keepdim=True)  # noqa: E731
    consistent = norm2(f + b) <= 0.01 * (norm2(f) + norm2(b)) + 0.5
    gy = F.pad(b[..., 1:, :] - b[..., :-1, :], (0, 0, 0, 1))
    gx = F.pad(b[..., :, 1:] - b[..., :, :-1], (0, 1, 0, 0))
    smooth = norm2(gx) + norm2(gy) <= 0.01 * norm2(b) + 0.002
    grid = _grid(back, h, w)
    inside = (grid.abs() <= 1).all(-1)[:, None]
    return (consistent & smooth & inside).float()


def flicker(output: torch.Tensor, previous_output: torch.Tensor, back: np.ndarray, mask: torch.Tensor) -> float:
    """Mean |output - previous output warped by the input's flow| on reliable pixels, in 0..255."""
    difference = (output - warp(previous_output, back)).abs().mean(1, keepdim=True)
    return float(255 * (difference * mask).sum() / mask.sum().clamp_min(1))
