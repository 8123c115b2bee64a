"""Colour control (color.py): histogram matching of the style, luminance transfer, and the run that uses them."""

from dataclasses import replace

import torch
import torch.nn.functional as F

import stylize.core.engine
import stylize.core.styles
from stylize import StylizeConfig, run
from stylize.core.color import match_color, transfer_luminance

from conftest import make_content, make_style


def _smooth(seed, size=32) -> torch.Tensor:
    """Smooth noise in (0, 1): random 4x4 pixels, bilinearly enlarged (1, 3, size, size)."""
    coarse = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=True).float()


def _mean_cov(image):
    pixels = image[0].reshape(3, -1).double()
    centred = pixels - pixels.mean(1, keepdim=True)
    return pixels.mean(1), centred @ centred.T / pixels.shape[1]


def _luma_chroma(image):
    """BT.601: Y = .299 R + .587 G + .114 B; Cb, Cr = (B - Y) / 1.772, (R - Y) / 1.402."""
    r, g, b = image[0].double()
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return y, torch.stack([(b - y) / 1.772, (r - y) / 1.402])


def test_match_color_gives_the_style_the_contents_mean_and_covariance():
    style = 0.2 + 0.6 * _smooth(0)
    n = _smooth(1)  # the content: correlated channels, another mean
    content = torch.stack([0.3 + 0.4 * n[0, 0], 0.25 + 0.2 * n[0, 0] + 0.2 * n[0, 1],
                           0.5 + 0.1 * n[0, 1] + 0.2 * n[0, 2]])[None]
    assert content.min() > 0.2 and content.max() < 0.8
    (mean_s, cov_s), (mean_c, cov_c) = _mean_cov(style), _mean_cov(content)
    assert (mean_s - mean_c).abs().max() > 0.05 and (cov_s - cov_c).abs().max() > 5e-3  # there is work to do

    matched = match_color(style, content)
    assert matched.shape == style.shape and matched.dtype == torch.float32
    assert matched.min() > 0 and matched.max() < 1  # clamping did not bite
    mean_m, cov_m = _mean_cov(matched)
    assert torch.allclose(mean_m, mean_c, atol=1e-3, rtol=0)
    assert torch.allclose(cov_m, cov_c, atol=1e-3 * cov_c.abs().max().item(), rtol=0)
    # It is the style recoloured, not the content: each pixel an affine function of the style's.
    x = torch.cat([style[0].reshape(3, -1), torch.ones(1, style[0, 0].numel())]).double().T
    y = matched[0].reshape(3, -1).double().T
    fit = torch.linalg.lstsq(x, y).solution
    assert (x @ fit - y).abs().max() < 1e-5


def test_transfer_luminance_keeps_the_stylized_luma_and_the_contents_chroma():
    stylized, content = 0.35 + 0.3 * _smooth(2), 0.35 + 0.3 * _smooth(3)
    out = transfer_luminance(stylized, content)
    assert out.shape == stylized.shape and out.min() > 0 and out.max() < 1
    (y_out, c_out), (y_sty, c_sty), (y_con, c_con) = map(_luma_chroma, (out, stylized, content))
    assert torch.allclose(y_out, y_sty, atol=1e-5, rtol=0)
    assert torch.allclose(c_out, c_con, atol=1e-5, rtol=0)
    assert (c_sty - c_con).abs().max() > 0.05 and (y_sty - y_con).abs().max() > 0.05  # the inputs do differ


def test_a_histogram_run_optimizes_towards_the_recoloured_style(monkeypatch):
    matched, targets = [], []
    recolour, moments = stylize.core.styles.match_color, stylize.core.styles.style_moments

    def counting(style, content):
        matched.append((recolour(style, content), content))
        return matched[-1][0]

    def recording(extractor, style, *rest):
        targets.append([style])
        return moments(extractor, style, *rest)

    monkeypatch.setattr(stylize.core.styles, "match_color", counting)
    monkeypatch.setattr(stylize.core.styles, "style_moments", recording)
    config = StylizeConfig(size=32, iterations=3, weights="random", preserve_color="histogram")
    content, style = make_content(), make_style()
    histogram = run(content, style, config=config)
    assert len(matched) == 1 and len(targets) == 1  # one scale, one style
    (recoloured, content_t), (style_t,) = matched[0], targets[0]
    assert style_t is recoloured  # the Gram targets come from the recoloured style
    assert torch.allclose(_mean_cov(style_t)[0], _mean_cov(content_t)[0], atol=1e-2, rtol=0)

    matched.clear()
    plain = run(content, style, config=replace(config, preserve_color="none"))
    assert matched == []
    assert histogram.image.tobytes() != plain.image.tobytes()
    assert histogram.losses != plain.losses
