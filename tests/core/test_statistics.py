"""The statistics and distances, checked against hand-computed values and the plain formulas."""

import pytest
import torch

from stylize.core.statistics import (
    blend_targets,
    covariance,
    gram_distance,
    gram_sum,
    moment_sums,
    moments_of,
    style_target,
    wasserstein_distance,
)

from conftest import gram_matrix


def _relu_features(seed, channels=6, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.relu(torch.randn(1, channels, 5, 7, generator=g, dtype=torch.float64)) * scale


def test_weighted_moments_are_the_weighted_sums():
    f, w = _relu_features(0), torch.rand(5, 7, dtype=torch.float64)
    sums = moment_sums(f, w)
    assert torch.allclose(sums["srm"][0], torch.einsum("chw,dhw,hw->cd", f[0], f[0], w))
    assert torch.allclose(sums["sum"][0], torch.einsum("chw,hw->c", f[0], w))
    assert torch.isclose(sums["count"], w.sum()) and sums["positions"] == 35
    plain = moment_sums(f)  # no weights: every position counts 1
    assert torch.allclose(moments_of(plain)[1], f.shape[1] * gram_matrix(f))
    halves = [moment_sums(f[..., :, :3]), moment_sums(f[..., :, 3:])]  # sums split over any partition
    for key in plain:
        assert torch.allclose(halves[0][key] + halves[1][key], plain[key])


def test_blend_targets_is_linear_in_mean_and_second_moment():
    a, b = moments_of(moment_sums(_relu_features(0))), moments_of(moment_sums(_relu_features(1, scale=3.0)))
    blend = blend_targets([{"mean": a[0], "srm": a[1]}, {"mean": b[0], "srm": b[1]}], [3, 1])
    assert torch.allclose(blend["mean"], 0.75 * a[0] + 0.25 * b[0])
    assert torch.allclose(blend["srm"], 0.75 * a[1] + 0.25 * b[1])
    # ... and its covariance is not the blend of the covariances (the means differ)
    assert not torch.allclose(covariance(blend["mean"], blend["srm"]),
                              0.75 * covariance(*a) + 0.25 * covariance(*b), rtol=1e-3)


@pytest.mark.parametrize("distance", [gram_distance, wasserstein_distance])
def test_style_distances_vanish_at_the_target_only(distance):
    style, other = _relu_features(0), _relu_features(1, scale=2.0)
    target = style_target(*moments_of(moment_sums(style)))
    assert abs(distance(*moments_of(moment_sums(style)), target).item()) < 1e-9
    assert distance(*moments_of(moment_sums(other)), target) > 0.01
    # invariant to the order of positions: a distribution, not an image
    shuffled = style.flatten(-2)[..., torch.randperm(35)].reshape(style.shape)
    assert abs(distance(*moments_of(moment_sums(shuffled)), target).item()) < 1e-9


def test_wasserstein_is_the_gaussian_w2_distance():
    # Diagonal covariances: W2^2 = |m - m_t|^2 + sum (sqrt(var) - sqrt(var_t))^2, by hand
    mean, mean_t = torch.tensor([[1.0, 2.0]], dtype=torch.float64), torch.tensor([[0.5, 1.0]], dtype=torch.float64)
    var, var_t = torch.tensor([4.0, 9.0], dtype=torch.float64), torch.tensor([1.0, 16.0], dtype=torch.float64)
    srm = torch.diag(var)[None] + mean.unsqueeze(-1) * mean.unsqueeze(-2)
    srm_t = torch.diag(var_t)[None] + mean_t.unsqueeze(-1) * mean_t.unsqueeze(-2)
    target = style_target(mean_t, srm_t)
    expected = (0.25 + 1.0 + (2 - 1) ** 2 + (3 - 4) ** 2) / torch.diagonal(srm_t, dim1=-2, dim2=-1).sum()
    assert torch.isclose(wasserstein_distance(mean, srm, target), expected, rtol=1e-4)


def test_wasserstein_gradient_is_exact_and_finite_with_dead_channels():
    target_features, f = _relu_features(0), _relu_features(1)
    target_features[:, 2] = 0  # a dead ReLU channel: equal (zero) eigenvalues
    f[:, 2] = 0
    target = style_target(*moments_of(moment_sums(target_features)))
    loss = lambda x: wasserstein_distance(*moments_of(moment_sums(x)), target)  # noqa: E731
    assert torch.autograd.gradcheck(loss, (_relu_features(1).requires_grad_(True),))
    x = f.clone().requires_grad_(True)
    loss(x).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().max() < 1


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_gram_sums_gradient_matches_autograd_of_the_direct_formula(layout):
    f = torch.randn(2, 3, 4, 5, dtype=torch.float64).contiguous(memory_format=layout).requires_grad_(True)
    assert torch.autograd.gradcheck(gram_sum, (f,))
    upstream = torch.randn(2, 3, 3, dtype=torch.float64)  # not symmetric: the general case
    direct = torch.autograd.grad((f.reshape(2, 3, 20) @ f.reshape(2, 3, 20).transpose(1, 2) * upstream).sum(), f)
    ours = torch.autograd.grad((gram_sum(f) * upstream).sum(), f)
    assert torch.allclose(ours[0], direct[0])
