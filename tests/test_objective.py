"""The objective (objective.py): weighted content, style and TV terms, bf16 forward, layer weights, style blends."""

import pytest
import torch

from stylize.config import StylizeConfig, validate
from stylize.features import build_extractor
from stylize.losses import content_loss, gram_matrix, style_loss, total_variation
from stylize.objective import Objective, style_grams
from stylize.weights import load_weights

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
    objective = Objective(extractor, content, style_grams(extractor, [style], cfg), cfg, bf16=bf16)
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
    grams = style_grams(extractor, styles, cfg)
    assert list(grams) == list(STYLE_LAYERS)  # the content layer is no style target
    with torch.no_grad():
        features = [extractor(s) for s in styles]
    for layer in STYLE_LAYERS:
        assert torch.allclose(grams[layer], gram_matrix(features[picked][layer]), rtol=1e-6, atol=0)
        assert not torch.allclose(grams[layer], gram_matrix(features[1 - picked][layer]), rtol=1e-2)
