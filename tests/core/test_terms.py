"""The objective's terms: the Term protocol, and the paper's plain formulas the terms are checked against."""

import pytest
import torch

from stylize.core.terms import ContentTerm, RangeTerm, StyleTerm, TemporalTerm, Term, TVTerm, owned
from stylize.core.tiling import Window

from conftest import TILING_CASES, content_loss, gram_matrix, style_loss, tiling_objective, total_variation


def test_every_term_of_an_objective_keeps_the_protocol():
    model, style_layers, content_layer, size, _ = TILING_CASES["vgg19-shallow"]
    objective, _ = tiling_objective(model, style_layers, content_layer, size)
    kinds = {type(term) for term in objective.terms}
    assert kinds == {ContentTerm, StyleTerm, TVTerm, RangeTerm}
    assert all(isinstance(term, Term) for term in objective.terms)
    assert [term.name for term in objective.terms if not term.reported] == ["range"]
    guide = TemporalTerm(torch.zeros(1, 3, 4, 4), torch.ones(1, 1, 4, 4), weight=1.0)
    assert isinstance(guide, Term) and guide.layer is None and guide.reported


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


@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format])
@pytest.mark.parametrize("window", [Window(8, 16, 40, 64, (16, 32, 24, 56), 40, 64), Window.whole(40, 64)])
def test_owned_positions_are_a_dense_fp32_copy_with_the_slices_gradient(layout, window):
    """A bf16 map's owned positions as autograd's slice and upcast would give them, and the same
    gradient, but dense in the map's layout: the Gram product's reshape is then a view."""
    f = torch.randn(1, 6, 20, 32).to(torch.bfloat16).contiguous(memory_format=layout).requires_grad_(True)
    piece, _ = owned(f, window, 2, None)
    reference = f.detach().requires_grad_(True)
    rows, cols = window.inside(2, f.shape[-2:])
    expected = reference[..., rows, cols].float()
    assert piece.dtype == torch.float32 and torch.equal(piece, expected)
    assert piece.is_contiguous(memory_format=layout)
    weights = torch.randn_like(expected)
    (piece * weights).sum().backward()
    (expected * weights).sum().backward()
    assert torch.equal(f.grad, reference.grad)
    assert f.grad.is_contiguous(memory_format=layout) and f.grad.dtype == torch.bfloat16
