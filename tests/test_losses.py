"""The loss math, checked against hand-computed values."""

import pytest
import torch

from stylize.losses import blend_grams, content_loss, gram_matrix, style_loss, total_variation


def test_gram_matrix_is_channel_inner_products_over_chw():
    f = torch.arange(24, dtype=torch.float32).reshape(1, 2, 3, 4)
    a, b = f[0, 0].flatten(), f[0, 1].flatten()
    expected = torch.tensor([[a @ a, a @ b], [b @ a, b @ b]]) / (2 * 3 * 4)
    assert torch.allclose(gram_matrix(f)[0], expected)


def test_gram_matrix_is_symmetric_and_independent_of_pixel_order():
    f = torch.randn(1, 5, 6, 7)
    g = gram_matrix(f)
    assert torch.allclose(g, g.transpose(1, 2))
    shuffled = f.flatten(2)[..., torch.randperm(42)].reshape(1, 5, 6, 7)
    assert torch.allclose(gram_matrix(shuffled), g, atol=1e-6)


def test_content_loss_is_relative_mse():
    target = torch.full((1, 2, 2, 2), 2.0)
    assert content_loss(target, target) == 0
    # mse = 1, mean square of the target = 4
    assert torch.isclose(content_loss(target + 1, target), torch.tensor(0.25))


def test_style_loss_zero_at_target_and_positive_elsewhere():
    f = torch.randn(1, 4, 5, 5)
    assert style_loss(f, gram_matrix(f)) == 0
    assert style_loss(f * 2, gram_matrix(f)) > 0


def test_total_variation_of_flat_and_striped_images():
    assert total_variation(torch.ones(1, 3, 4, 4)) == 0
    stripes = torch.zeros(1, 1, 4, 4)
    stripes[..., ::2] = 1.0  # every horizontal neighbour differs by 1, vertical ones by 0
    assert torch.isclose(total_variation(stripes), torch.tensor(1.0))


def test_blend_grams_is_normalised_weighted_sum():
    a, b = torch.ones(1, 2, 2), torch.zeros(1, 2, 2)
    assert torch.allclose(blend_grams([a, b], [3, 1]), torch.full((1, 2, 2), 0.75))


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_gram_matrix_gradient_matches_autograd_of_the_direct_formula(layout):
    f = torch.randn(2, 3, 4, 5, dtype=torch.float64).contiguous(memory_format=layout).requires_grad_(True)
    assert torch.autograd.gradcheck(gram_matrix, (f,))
    upstream = torch.randn(2, 3, 3, dtype=torch.float64)  # not symmetric: the general case
    direct = torch.autograd.grad((f.reshape(2, 3, 20) @ f.reshape(2, 3, 20).transpose(1, 2) / 60 * upstream).sum(), f)
    ours = torch.autograd.grad((gram_matrix(f) * upstream).sum(), f)
    assert torch.allclose(ours[0], direct[0])
