"""The objective (objective.py): weighted content, style and TV terms, bf16 forward, layer weights, style blends."""

import pytest
import torch

from stylize.config import StylizeConfig, validate
from stylize.core.objective import Objective, Region, normalize_masks, pool_mask, style_moments, style_targets
from stylize.core.terms import RANGE_WEIGHT
from stylize.net.features import build_extractor
from stylize.net.weights import load_weights

from conftest import content_loss, gram_matrix, style_loss, total_variation

STYLE_LAYERS, CONTENT_LAYER = ("relu1_1", "relu2_1"), "relu2_2"


def _config(n_styles=1, **options):
    options = {"style_layers": STYLE_LAYERS, "content_layer": CONTENT_LAYER, "weights": "random", **options}
    return validate(StylizeConfig(**options), n_styles)


def _extractor():
    return build_extractor("vgg19", load_weights("vgg19", "random"), [*STYLE_LAYERS, CONTENT_LAYER])


def _image(seed, size=32):
    return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _by_hand(extractor, cfg, image, content, style, layer_weights, bf16=False):
    """The terms from the pure functions of losses.py on the extractor's features.

    With ``bf16`` the image's features come from a bfloat16 forward pass, promoted to fp32.
    """
    with torch.no_grad():
        target, style_features = extractor(content), extractor(style)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            features = extractor(image)
        assert all(f.dtype == (torch.bfloat16 if bf16 else torch.float32) for f in features.values())
        features = {k: v.float() for k, v in features.items()}
        c = content_loss(features[CONTENT_LAYER], target[CONTENT_LAYER])
        per_layer = [style_loss(features[layer], gram_matrix(style_features[layer])) for layer in STYLE_LAYERS]
        s = sum(w * loss for w, loss in zip(layer_weights, per_layer)) / sum(layer_weights)
        tv = total_variation(image)
    terms = {"content": cfg.content_weight * c, "style": cfg.style_weight * s, "tv": cfg.tv_weight * tv}
    return {**terms, "total": sum(terms.values())}, per_layer


def _terms(cfg, extractor, image, content, style, bf16=False):
    objective = Objective(extractor, content, style_targets([style_moments(extractor, style, cfg)], cfg), cfg, bf16=bf16)
    with torch.no_grad():
        return objective(image)


def test_terms_are_the_loss_functions_times_the_weights():
    cfg = _config(content_weight=2.0, style_weight=30.0, tv_weight=500.0)
    extractor, image, content, style = _extractor(), _image(0), _image(1), _image(2)
    terms = _terms(cfg, extractor, image, content, style)
    expected, _ = _by_hand(extractor, cfg, image, content, style, [1.0, 1.0])
    assert set(terms) == {"content", "style", "tv", "total"}
    for name, value in expected.items():
        assert torch.allclose(terms[name], value, rtol=1e-5, atol=0), name
    assert all(terms[name] > 0 for name in expected)  # none vanishes: each comparison means something


def test_an_iterate_outside_the_range_is_pulled_back_and_counted_in_the_total_only():
    cfg = _config()
    extractor, content, style = _extractor(), _image(1), _image(2)
    x = _image(0)
    terms = _terms(cfg, extractor, x, content, style)
    assert terms["total"] == terms["content"] + terms["style"] + terms["tv"]  # inside [0, 1]: no penalty
    x[..., :4, :4], x[..., -4:, -4:] = 1.5, -0.5  # two corners strayed out of range
    terms = _terms(cfg, extractor, x, content, style)
    assert set(terms) == {"content", "style", "tv", "total"}  # the penalty is not a term of its own
    excess = 2 * 3 * 16 * 0.5**2 / x.numel()  # mean squared excess
    assert torch.isclose(terms["total"] - (terms["content"] + terms["style"] + terms["tv"]),
                         torch.tensor(RANGE_WEIGHT * excess), rtol=1e-4)
    # Alone, its gradient points back into [0, 1] from outside and is zero inside: no dead pixels.
    alone = _config(content_weight=0, style_weight=0, tv_weight=0)
    objective = Objective(extractor, content, style_targets([style_moments(extractor, style, alone)], alone), alone)
    x.requires_grad_(True)
    objective(x)["total"].backward()
    assert torch.allclose(x.grad, 2 * RANGE_WEIGHT * (x - x.clamp(0, 1)) / x.numel())
    assert (x.grad[..., :4, :4] > 0).all() and (x.grad[..., -4:, -4:] < 0).all()


def test_the_image_equal_to_the_content_has_no_content_loss():
    cfg = _config()
    extractor, content, style = _extractor(), _image(1), _image(2)
    assert _terms(cfg, extractor, content, content, style)["content"] == 0


def test_bf16_terms_are_fp32_and_close_to_fp32():
    cfg = _config()
    extractor, image, content, style = _extractor(), _image(0), _image(1), _image(2)
    fp32 = _terms(cfg, extractor, image, content, style)
    bf16 = _terms(cfg, extractor, image, content, style, bf16=True)
    for name in fp32:
        assert bf16[name].dtype == torch.float32, name
        assert torch.isclose(bf16[name], fp32[name], rtol=0.05, atol=0), (name, bf16[name], fp32[name])
    assert bf16["content"] != fp32["content"] and bf16["style"] != fp32["style"]  # the network did run in bf16
    # Only the network's forward is bf16: the Gram matrices and losses are computed in fp32.
    expected, _ = _by_hand(extractor, cfg, image, content, style, [1.0, 1.0], bf16=True)
    for name, value in expected.items():
        assert torch.allclose(bf16[name], value, rtol=1e-5, atol=0), name


def test_style_layer_weights_weight_the_layers_after_normalisation():
    cfg = _config(style_layer_weights=(2.0, 1.0))
    extractor, image, content, style = _extractor(), _image(0), _image(1), _image(2)
    style_term = _terms(cfg, extractor, image, content, style)["style"]
    expected, per_layer = _by_hand(extractor, cfg, image, content, style, [2.0, 1.0])
    assert torch.allclose(style_term, cfg.style_weight * (2 * per_layer[0] + per_layer[1]) / 3, rtol=1e-5, atol=0)
    assert torch.allclose(style_term, expected["style"], rtol=1e-5, atol=0)
    # The layers' losses differ enough that 2:1 is told apart from 1:1 and from 1:2.
    equal = _terms(_config(), extractor, image, content, style)["style"]
    assert not torch.isclose(style_term, equal, rtol=1e-3)
    assert not torch.isclose(style_term, cfg.style_weight * (per_layer[0] + 2 * per_layer[1]) / 3, rtol=1e-3)


@pytest.mark.parametrize("blend, picked", [((1.0, 0.0), 0), ((0.0, 1.0), 1)])
def test_a_blend_with_one_weight_is_that_styles_grams(blend, picked):
    cfg = _config(n_styles=2, style_blend=blend)
    extractor, styles = _extractor(), [_image(2), _image(3, size=24)]
    targets = style_targets([style_moments(extractor, s, cfg) for s in styles], cfg, blend)
    assert list(targets) == list(STYLE_LAYERS)  # the content layer is no style target
    with torch.no_grad():
        features = [extractor(s) for s in styles]
    for layer in STYLE_LAYERS:
        channels = features[0][layer].shape[1]  # the second moment is the Gram matrix / (H*W), not / (C*H*W)
        srm = targets[layer]["srm"]
        assert torch.allclose(srm, channels * gram_matrix(features[picked][layer]), rtol=1e-6, atol=0)
        assert not torch.allclose(srm, channels * gram_matrix(features[1 - picked][layer]), rtol=1e-2)


# ---------------------------------------------------------------- regions and style statistics


def test_pool_mask_is_the_block_mean_the_way_pooling_shrinks_the_image():
    mask = torch.zeros(10, 12)
    mask[:, :5] = 1.0  # a border inside a 4 px block
    pooled = pool_mask(mask, 4)
    assert pooled.shape == (3, 3)  # ceil: a ResNet map rounds up; VGG's floor slices the last row off
    assert pooled[0].tolist() == [1.0, 0.25, 0.0] and pooled[2].tolist() == [1.0, 0.25, 0.0]
    assert pool_mask(mask, 1) is mask


def test_overlapping_masks_share_a_pixel_and_uncovered_pixels_get_nothing():
    a, b = torch.tensor([[1.0, 1.0, 0.0, 0.5]]), torch.tensor([[0.0, 1.0, 0.0, 0.25]])
    na, nb = normalize_masks([a, b])
    assert na.tolist() == [[1.0, 0.5, 0.0, 0.5]] and nb.tolist() == [[0.0, 0.5, 0.0, 0.25]]


def _regional(cfg, extractor, content, styles, masks):
    moments = [style_moments(extractor, s, cfg) for s in styles]
    return Objective(extractor, content, [Region(style_targets([m], cfg), w) for m, w in zip(moments, masks)], cfg)


@pytest.mark.parametrize("style_loss", ["gram", "wasserstein"])
def test_a_region_over_the_whole_image_is_the_plain_objective(style_loss):
    cfg = _config(style_loss=style_loss)
    extractor, image, content, style = _extractor(), _image(0), _image(1), _image(2)
    plain = Objective(extractor, content, style_targets([style_moments(extractor, style, cfg)], cfg), cfg)
    regional = _regional(cfg, extractor, content, [style], [torch.ones(32, 32)])
    with torch.no_grad():
        a, b = plain(image), regional(image)
    for name in a:
        assert torch.allclose(a[name], b[name], rtol=1e-5), name


def test_a_region_scores_only_its_own_pixels():
    # Style A on the left half, B on the right: an image made of A's left and B's right has
    # no style loss at the layer of stride 1 ... and the loss does not care what A's half was
    cfg = _config(style_layers=("relu1_1",), style_layer_weights=None)
    extractor, content = _extractor(), _image(1)
    a, b = _image(2), _image(3) * 0.5
    left = torch.zeros(32, 32)
    left[:, :16] = 1.0
    objective = _regional(cfg, extractor, content, [a[..., :16], b[..., 16:]], [left, 1 - left])
    pieced = torch.cat([a[..., :16], b[..., 16:]], dim=-1)
    swapped = torch.cat([b[..., 16:], a[..., :16]], dim=-1)
    with torch.no_grad():
        # (relu1_1 sees 3x3 neighbourhoods: the seam column mixes both, hence not exactly 0)
        assert objective(pieced)["style"] < 0.02 * objective(swapped)["style"]


def test_pixels_no_mask_covers_have_no_style_gradient():
    cfg = _config(content_weight=0, tv_weight=0)
    extractor, image, content = _extractor(), _image(0), _image(1)
    top = torch.zeros(32, 32)
    top[:8] = 1.0
    objective = _regional(cfg, extractor, content, [_image(2)], [top])
    x = image.clone().requires_grad_(True)
    objective(x)["total"].backward()
    # relu2_1's receptive field reaches 10 px below the region; farther down nothing pulls
    assert x.grad[..., 20:, :].abs().max() == 0 and x.grad[..., :8, :].abs().max() > 0
