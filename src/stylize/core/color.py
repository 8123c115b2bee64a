"""Colour control: keep the content's colours (luminance transfer) or match the
style image's colour statistics to the content's before optimizing (Gatys et al.
2016, "Preserving Color in Neural Artistic Style Transfer")."""

from __future__ import annotations

import torch

# RGB -> YCbCr (ITU-R BT.601, full range, no offsets): Y is luminance.
_RGB_TO_YCC = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
)


def _apply(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix.to(image), image)


def transfer_luminance(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The stylized image's luminance with the content's chroma, both (1, 3, H, W)."""
    ycc_out = _apply(_RGB_TO_YCC, stylized)
    ycc_content = _apply(_RGB_TO_YCC, content)
    merged = torch.cat([ycc_out[:, :1], ycc_content[:, 1:]], dim=1)
    return _apply(torch.linalg.inv(_RGB_TO_YCC.double()).float(), merged).clamp(0, 1)


def _mean_cov(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    pixels = image[0].reshape(3, -1).double()  # (3, H*W)
    mean = pixels.mean(1, keepdim=True)
    centred = pixels - mean
    return mean, centred @ centred.T / pixels.shape[1]


def _sqrtm(cov: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(cov)
    values = values.clamp_min(1e-8)
    return vectors @ torch.diag(values.rsqrt() if inverse else values.sqrt()) @ vectors.T


def match_color(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Recolour ``style`` so its pixel mean and covariance equal ``content``'s."""
    mean_s, cov_s = _mean_cov(style)
    mean_c, cov_c = _mean_cov(content)
    transform = _sqrtm(cov_c) @ _sqrtm(cov_s, inverse=True)
    pixels = style[0].reshape(3, -1).double()
    matched = transform @ (pixels - mean_s) + mean_c
    return matched.reshape(style.shape).float().clamp(0, 1)
