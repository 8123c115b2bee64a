"""Statistics of features and the distances between them: what the objective's terms are made of.

Every statistic here is built from sums over positions (Σ f, Σ f f^T, a weight sum), so a
tile's sums add up to the whole image's and a region's weighted sums to the region's own.
Distances are *relative* errors (divided by the target's mean square): Gatys et al. weight
each layer by hand for one network's activation scale, which is why every peer tool needs
different weights for Caffe and torchvision VGG. Relative terms make one set of weights
work for every backbone and weight source, and give each style layer an equal say.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_EPS = 1e-12




def gram_sum(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C): the sum over positions of f f^T (tiles' sums add up)."""
    b, c, h, w = features.shape
    return _Gram.apply(features.reshape(b, c, h * w))


class _Gram(torch.autograd.Function):
    """F -> F F^T with a backward of one matmul instead of autograd's two plus an add.

    Autograd sees F used twice and computes dG F and dG^T F separately, then adds two
    (C, H*W) tensors; (dG + dG^T) F is the same gradient from a (C, C) add. At 512 px
    this cuts the style losses' backward roughly in half (about 10% of an iteration).
    """

    @staticmethod
    def forward(ctx, flat: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(flat)
        return flat @ flat.transpose(1, 2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (flat,) = ctx.saved_tensors
        sym = grad + grad.transpose(1, 2)
        if flat.stride(-1) == 1:
            return sym @ flat
        # channels_last features: (sym F)^T = F^T sym keeps the gradient in their layout.
        return (flat.transpose(1, 2) @ sym).transpose(1, 2)


def relative_mse(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean((x - target)^2) / mean(target^2)."""
    return F.mse_loss(x, target) / target.pow(2).mean().clamp_min(_EPS)


# A style statistic is a loss on a layer's feature distribution, summarised by moments that
# add up over positions (and so over tiles and weighted regions): the weight sum, the
# weighted sum of f, and of f f^T. Normalised by the weight sum they are the mean and the
# second raw moment, which are also what a blend of styles may mix linearly (a covariance
# or its square root is not linear in the data).


def moment_sums(features: torch.Tensor, weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """(1, C, h, w) features [with (h, w) weights in [0, 1]] -> summable moments.

    "sum": Σ w f (1, C); "srm": Σ w f f^T (1, C, C); "count": Σ w; "positions": h * w.
    """
    b, c, h, w = features.shape
    positions = torch.tensor(float(h * w), device=features.device)
    if weights is None:
        return {"sum": features.sum((-2, -1)), "srm": gram_sum(features), "count": positions,
                "positions": positions}
    # Σ w f f^T = (f sqrt w)(f sqrt w)^T: one Gram product, with its fast backward.
    return {"sum": (features * weights).sum((-2, -1)), "srm": gram_sum(features * weights.sqrt()),
            "count": weights.sum(), "positions": positions}


def moments_of(sums: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, second raw moment) from moment_sums summed over any number of pieces."""
    count = sums["count"].clamp_min(1e-8)  # an empty region: zeros, not NaN (its share is 0)
    return sums["sum"] / count, sums["srm"] / count


def gram_distance(mean: torch.Tensor, srm: torch.Tensor, target: dict[str, torch.Tensor]) -> torch.Tensor:
    """Gatys et al.'s style loss, relative: |G - G_t|^2 / |G_t|^2 with G the second raw moment.

    (The relative error does not care whether G is divided by C as well: the old Gram / (C*H*W).)
    """
    return relative_mse(srm, target["srm"])


def covariance(mean: torch.Tensor, srm: torch.Tensor) -> torch.Tensor:
    return srm - mean.unsqueeze(-1) * mean.unsqueeze(-2)


def wasserstein_distance(mean: torch.Tensor, srm: torch.Tensor, target: dict[str, torch.Tensor]) -> torch.Tensor:
    """Squared 2-Wasserstein distance between Gaussians fitted to the features and the style's,
    relative to the style's mean square (so one weight serves every layer, as for Gram):

    (|m - m_t|^2 + tr(S + S_t - 2 (S_t^1/2 S S_t^1/2)^1/2)) / tr(E[f f^T]_t).

    In fp32 whatever the network ran in (features come back to fp32 before any statistic).
    tr(A^1/2) is the sum of the square roots of A's eigenvalues; eigvalsh's backward is
    V diag(dλ) V^T, with no division by eigenvalue gaps, so equal eigenvalues (common:
    dead ReLU channels) are safe. Both covariances get ``eps`` on the diagonal, as in
    crowsonkb's tool: A's eigenvalues then stay >= eps^2 and the square root's slope bounded.
    """
    eye = torch.eye(mean.shape[-1], dtype=mean.dtype, device=mean.device)
    cov = covariance(mean, srm) + target["eps"] * eye
    root = target["cov_sqrt"]
    inner = root @ cov @ root
    inner = (inner + inner.transpose(-2, -1)) / 2  # symmetric up to rounding: make it exactly
    cross = torch.linalg.eigvalsh(inner).clamp_min(0).sqrt().sum(-1)
    trace = torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1) + target["cov_trace"]
    w2 = (mean - target["mean"]).pow(2).sum(-1) + trace - 2 * cross
    return (w2 / target["scale"]).mean()


def style_target(mean: torch.Tensor, srm: torch.Tensor, distance: str = "wasserstein") -> dict[str, torch.Tensor]:
    """A style's moments at one layer, with what ``distance`` needs of them precomputed once.

    (Gram needs only the second moment; the covariance's square root, an eigendecomposition
    of up to 512 x 512, is left out for it.)
    """
    if distance == "gram":
        return {"mean": mean, "srm": srm}
    channels = mean.shape[-1]
    cov = covariance(mean, srm)
    eps = 1e-5 * torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1).mean().clamp_min(1e-12) / channels
    cov = cov + eps * torch.eye(channels, dtype=cov.dtype, device=cov.device)
    values, vectors = torch.linalg.eigh(cov.double())
    cov_sqrt = (vectors * values.clamp_min(0).sqrt().unsqueeze(-2)) @ vectors.transpose(-2, -1)
    return {"mean": mean, "srm": srm, "cov_sqrt": cov_sqrt.to(mean.dtype), "eps": eps,
            "cov_trace": torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1),
            "scale": torch.diagonal(srm, dim1=-2, dim2=-1).sum(-1).clamp_min(1e-12)}


def blend_targets(targets: list[dict[str, torch.Tensor]], blend: list[float],
                  distance: str = "wasserstein") -> dict[str, torch.Tensor]:
    """Several styles' moments -> one target, linear in the mean and second raw moment."""
    total = sum(blend)
    mean = sum(t["mean"] * (w / total) for t, w in zip(targets, blend))
    srm = sum(t["srm"] * (w / total) for t, w in zip(targets, blend))
    return style_target(mean, srm, distance)


STYLE_DISTANCES = {"gram": gram_distance, "wasserstein": wasserstein_distance}
