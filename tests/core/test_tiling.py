"""Tiles: geometry, and a tiled evaluation that equals the whole image's (values and gradient)."""

import pytest
import torch

from stylize.config import StylizeConfig, validate
from stylize.core.objective import Objective, Region, normalize_masks, style_moments, style_targets
from stylize.core.terms import TemporalTerm
from stylize.core.tiling import feature_map, plan_tiles, value_and_grad, whole
from stylize.net.features import build_extractor
from stylize.net.layers import halo, stride
from stylize.net.weights import load_weights

from conftest import TILING_CASES, smooth_image, tiling_objective


@pytest.mark.parametrize("h, w, tile, step", [(100, 77, 32, 16), (64, 64, 32, 4), (97, 130, 40, 8), (33, 33, 16, 2)])
def test_every_position_is_owned_by_exactly_one_tile(h, w, tile, step):
    plan = plan_tiles(h, w, tile, halo=step, step=step)
    assert plan.tiled
    for s in sorted({1, 2, 4, step} & {d for d in range(1, step + 1) if step % d == 0}):
        fh, fw = -(-h // s), -(-w // s)  # a map of ceil size: the last tile owns up to its end
        owned = torch.zeros(fh, fw, dtype=torch.int)
        for window in plan.windows:
            crop_h, crop_w = -(-(window.bottom - window.top) // s), -(-(window.right - window.left) // s)
            rows, cols = window.inside_whole(s, (crop_h, crop_w))
            owned[rows, cols] += 1
        assert (owned == 1).all(), s
    for window in plan.windows:
        y0, y1, x0, x1 = window.inner
        assert window.top % step == 0 and window.left % step == 0
        assert window.top <= y0 < y1 <= window.bottom and window.left <= x0 < x1 <= window.right


def test_tiles_are_as_equal_as_the_step_allows():
    plan = plan_tiles(1000, 300, tile=400, halo=80, step=16)
    heights = sorted({w.inner[1] - w.inner[0] for w in plan.windows})
    assert heights == [328, 336]  # three rows of ~333 px, not 400 + 400 + 200
    assert len(plan.windows) == 3
    assert not plan_tiles(300, 200, tile=400, halo=80, step=16).tiled


@pytest.mark.parametrize("case, term", [(case, "all") for case in TILING_CASES] +
                         [(case, term) for case in ("vgg19-shallow", "resnet50") for term in ("content", "style", "tv")]
                         + [("vgg19-shallow", "range")])
def test_a_tiled_gradient_equals_the_whole_one(case, term):
    model, style_layers, content_layer, size, tile = TILING_CASES[case]
    weights = {"all": {}, "content": {"style_weight": 0, "tv_weight": 0},
               "style": {"content_weight": 0, "tv_weight": 0}, "tv": {"content_weight": 0, "style_weight": 0},
               "range": {"content_weight": 0, "style_weight": 0, "tv_weight": 0}}[term]
    objective, cfg = tiling_objective(model, style_layers, content_layer, size, **weights)
    x = smooth_image(*size, seed=3).double()
    if term in ("all", "range"):  # an iterate that strayed outside [0, 1]: the range penalty has work
        x = 1.4 * x - 0.2
        assert (x < 0).any() and (x > 1).any()
    step = max(stride(model, layer) for layer in (*style_layers, content_layer))
    plan = plan_tiles(*size, tile, halo(model, [*style_layers, content_layer]), step)
    # Crops are cut inside the image, not only at its edges: the halo is doing the work.
    assert plan.tiled and any(w.top > 0 or w.left > 0 for w in plan.windows)
    losses_whole, grad_whole = value_and_grad(objective, x, whole(*size))
    losses_tiled, grad_tiled = value_and_grad(objective, x, plan)
    for name in losses_whole:
        assert torch.allclose(losses_tiled[name], losses_whole[name], rtol=1e-9, atol=1e-12), name
    error = (grad_tiled - grad_whole).norm() / grad_whole.norm()
    assert grad_whole.norm() > 0 and error < 1e-9, error


def test_the_first_pass_runs_the_network_only_as_deep_as_the_style_reads():
    """The content term is linear in its sums: its gradient needs no first pass, so neither do
    the layers past the deepest style layer: n crops run them n times, the style's 2n - 1."""
    model, style_layers, content_layer, size, tile = TILING_CASES["vgg19-deep-content"]
    objective, _ = tiling_objective(model, style_layers, content_layer, size)
    assert objective.first_pass_upto == "relu2_1"
    names = objective.extractor.names
    calls = {name: 0 for name in (style_layers[-1], content_layer)}
    for name in calls:
        module = objective.extractor.body[names.index(name)]
        module.register_forward_hook(lambda *_, name=name: calls.__setitem__(name, calls[name] + 1))
    plan = plan_tiles(*size, tile, halo(model, [*style_layers, content_layer]), 8)
    n = len(plan.windows)
    value_and_grad(objective, smooth_image(*size, seed=3).double(), plan)
    assert n > 2 and calls == {style_layers[-1]: 2 * n - 1, content_layer: n}


def test_a_halo_short_of_the_receptive_field_is_not_exact():
    model, style_layers, content_layer, size, tile = TILING_CASES["vgg19-shallow"]
    objective, _ = tiling_objective(model, style_layers, content_layer, size)
    x = smooth_image(*size, seed=3).double()
    _, grad_whole = value_and_grad(objective, x, whole(*size))
    _, grad_tiled = value_and_grad(objective, x, plan_tiles(*size, tile, halo=4, step=4))
    assert (grad_tiled - grad_whole).norm() / grad_whole.norm() > 1e-3


def test_float32_tiles_are_within_1e_4():
    model, style_layers, content_layer, size, tile = TILING_CASES["vgg19-paper"]
    objective, _ = tiling_objective(model, style_layers, content_layer, size)
    objective.float()
    x = smooth_image(*size, seed=3)
    plan = plan_tiles(*size, tile, halo(model, [*style_layers, content_layer]), 16)
    _, grad_whole = value_and_grad(objective, x, whole(*size))
    _, grad_tiled = value_and_grad(objective, x, plan)
    assert (grad_tiled - grad_whole).norm() / grad_whole.norm() < 1e-4


def test_a_feature_map_assembled_from_tiles():
    extractor = build_extractor("vgg19", load_weights("vgg19", "random"), ["relu4_2"]).double()
    x = smooth_image(150, 120, seed=4).double()
    plan = plan_tiles(150, 120, 48, halo("vgg19", ["relu4_2"]), 8)
    assembled = feature_map(extractor, x, plan, "relu4_2", 8)
    with torch.no_grad():
        expected = extractor(x)["relu4_2"]
    assert assembled.shape == expected.shape
    assert torch.allclose(assembled, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("model_case, style_loss", [("vgg19-shallow", "gram"), ("vgg19-shallow", "wasserstein"),
                                                    ("resnet50", "gram")])  # ResNet: maps of ceil size
def test_regional_and_wasserstein_terms_tile_exactly(model_case, style_loss):
    # Two soft, overlapping regions with their own styles: the masks' weights are cut with the tiles
    model, style_layers, content_layer, size, tile = TILING_CASES[model_case]
    cfg = validate(StylizeConfig(model=model, style_layers=style_layers, content_layer=content_layer,
                                 weights="random", style_loss=style_loss), 2)
    extractor = build_extractor(model, load_weights(model, "random"), [*style_layers, content_layer]).double()
    h, w = size
    ramp = torch.linspace(0, 1, w, dtype=torch.float64).expand(h, w)  # left to right
    masks = normalize_masks([1 - ramp, (ramp * 1.5).clamp(max=1)])
    styles = [smooth_image(64, 64, seed=2).double(), smooth_image(48, 64, seed=5).double()]
    regions = [Region(style_targets([style_moments(extractor, s, cfg)], cfg), m) for s, m in zip(styles, masks)]
    objective = Objective(extractor, smooth_image(*size, seed=1).double(), regions, cfg)
    x = smooth_image(*size, seed=3).double()
    step = max(stride(model, layer) for layer in (*style_layers, content_layer))
    plan = plan_tiles(*size, tile, halo(model, [*style_layers, content_layer]), step)
    losses_whole, grad_whole = value_and_grad(objective, x, whole(*size))
    losses_tiled, grad_tiled = value_and_grad(objective, x, plan)
    for name in losses_whole:
        assert torch.allclose(losses_tiled[name], losses_whole[name], rtol=1e-9, atol=1e-12), name
    # (1e-8: Wasserstein's eigenvalues carry a little more rounding than Gram's sums)
    assert (grad_tiled - grad_whole).norm() / grad_whole.norm() < 1e-8


def test_replicate_padding_tiles_exactly():
    # The first convolution pads each crop's border: inside the image that border is the halo's
    # edge, out of every owned position's reach, so tiles stay exact.
    model, style_layers, content_layer, size, tile = TILING_CASES["vgg19-shallow"]
    cfg = validate(StylizeConfig(style_layers=style_layers, content_layer=content_layer, weights="random",
                                 padding="replicate"), 1)
    extractor = build_extractor(model, load_weights(model, "random"), [*style_layers, content_layer],
                                padding="replicate").double()
    style = smooth_image(64, 64, seed=2).double()
    objective = Objective(extractor, smooth_image(*size, seed=1).double(),
                          style_targets([style_moments(extractor, style, cfg)], cfg), cfg)
    x = smooth_image(*size, seed=3).double()
    plan = plan_tiles(*size, tile, halo(model, [*style_layers, content_layer]), 4)
    _, grad_whole = value_and_grad(objective, x, whole(*size))
    _, grad_tiled = value_and_grad(objective, x, plan)
    assert (grad_tiled - grad_whole).norm() / grad_whole.norm() < 1e-9
    zeros = build_extractor(model, load_weights(model, "random"), ["relu1_1"]).double()
    with torch.no_grad():  # and it does change the border: the first row's features differ
        assert not torch.allclose(zeros(x)["relu1_1"][..., 0, :], extractor(x)["relu1_1"][..., 0, :])
        assert torch.allclose(zeros(x)["relu1_1"][..., 5:-5, 5:-5], extractor(x)["relu1_1"][..., 5:-5, 5:-5])


def test_a_temporal_term_tiles_exactly():
    # A video frame's pull towards the previous frame, warped, weighted by a soft reliability mask
    model, style_layers, content_layer, size, tile = TILING_CASES["vgg19-shallow"]
    objective, cfg = tiling_objective(model, style_layers, content_layer, size)
    h, w = size
    reliable = torch.linspace(0, 1, w, dtype=torch.float64).expand(1, 1, h, w).clone()
    objective.terms.append(TemporalTerm(smooth_image(*size, seed=7).double(), reliable, weight=50.0).double())
    x = smooth_image(*size, seed=3).double()
    step = max(stride(model, layer) for layer in (*style_layers, content_layer))
    plan = plan_tiles(*size, tile, halo(model, [*style_layers, content_layer]), step)
    losses_whole, grad_whole = value_and_grad(objective, x, whole(*size))
    losses_tiled, grad_tiled = value_and_grad(objective, x, plan)
    assert losses_whole["temporal"] > 0
    for name in losses_whole:
        assert torch.allclose(losses_tiled[name], losses_whole[name], rtol=1e-9, atol=1e-12), name
    assert (grad_tiled - grad_whole).norm() / grad_whole.norm() < 1e-9
