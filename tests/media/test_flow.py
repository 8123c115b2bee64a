"""flow.py: DIS flow recovers a known motion, warping, the reliability mask and the flicker measure."""

import numpy as np
import torch
from PIL import Image

from stylize.media.flow import DISFlow, flicker, reliable, warp

from conftest import EXAMPLES


def _shifted(dx, dy, size=(96, 64)):
    photo = Image.open(EXAMPLES / "chelsea.jpg").convert("RGB")
    w, h = size
    return photo.crop((40, 40, 40 + w, 40 + h)), photo.crop((40 + dx, 40 + dy, 40 + dx + w, 40 + dy + h))


def test_dis_recovers_a_pan():
    a, b = _shifted(3, 2)  # b shows the scene moved 3 px left and 2 px up
    flow = DISFlow()(a, b)
    assert flow.shape == (64, 96, 2) and flow.dtype == np.float32
    inner = flow[10:-10, 10:-10]
    assert np.median(inner[..., 0]) == np.float32(-3) or abs(np.median(inner[..., 0]) + 3) < 0.3
    assert abs(np.median(inner[..., 1]) + 2) < 0.3


def test_warp_by_a_whole_pixel_flow_is_a_shift():
    image = torch.rand(1, 3, 10, 12)
    flow = np.zeros((10, 12, 2), np.float32)
    flow[..., 0] = 2
    warped = warp(image, flow)
    assert torch.allclose(warped[..., :, :-2], image[..., :, 2:], atol=1e-6)
    assert torch.allclose(warped[..., :, -1], image[..., :, -1])  # outside: the nearest edge


def test_the_flow_is_trusted_where_it_goes_back_and_forth_inside_the_frame():
    back = np.zeros((20, 30, 2), np.float32)
    back[..., 0] = 3  # this frame's pixels came from 3 px to the right
    forward = -back
    mask = reliable(back, forward)
    assert mask.shape == (1, 1, 20, 30)
    assert (mask[..., :, :26] == 1).all() and (mask[..., :, 28:] == 0).all()  # x + 3 leaves the frame
    wrong = reliable(back, np.zeros_like(back))  # the way back does not return: occluded
    assert (wrong == 0).all()
    edge = back.copy()
    edge[:, 15:, 0] = -3  # two motions meet at x = 15: a motion boundary
    assert (reliable(edge, -edge)[..., :, 14] == 0).all()


def test_flicker_is_zero_for_a_consistent_pair_and_counts_only_reliable_pixels():
    previous = torch.rand(1, 3, 16, 16)
    back = np.zeros((16, 16, 2), np.float32)
    ones = torch.ones(1, 1, 16, 16)
    assert flicker(previous, previous, back, ones) < 1e-3
    changed = previous.clone()
    changed[..., :8] = 1 - changed[..., :8]
    mask = ones.clone()
    mask[..., :8] = 0
    assert flicker(changed, previous, back, mask) < 1e-3 and flicker(changed, previous, back, ones) > 10


def test_raft_from_a_weights_file_gives_a_flow_of_the_frame_size(tmp_path):
    # Untrained RAFT weights: the plumbing (padding to its 1/8 grid, the output's layout), not accuracy.
    from torchvision.models.optical_flow import raft_small

    from stylize.media.flow import RAFTFlow

    torch.manual_seed(0)
    torch.save(raft_small(weights=None).state_dict(), tmp_path / "raft.pth")
    a, b = _shifted(3, 2, size=(70, 45))  # neither side a multiple of 8, one under 64
    flow = RAFTFlow(str(tmp_path / "raft.pth"))(a, b)
    assert flow.shape == (45, 70, 2) and flow.dtype == np.float32 and np.isfinite(flow).all()


def test_raft_weights_that_are_not_raft_are_one_line(tmp_path):
    import pytest

    from stylize.errors import BadInputError
    from stylize.media.flow import RAFTFlow

    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(BadInputError, match="not the state_dict of torchvision's raft_small"):
        RAFTFlow(str(tmp_path / "other.pth"))
