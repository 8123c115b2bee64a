"""The function being minimized: weighted content, style and TV terms of an image."""

from __future__ import annotations

import torch
from torch import nn

from .config import StylizeConfig
from .losses import ContentLoss, StyleLoss, blend_grams, gram_matrix, total_variation



def style_grams(extractor: nn.Module, styles: list[torch.Tensor], cfg: StylizeConfig) -> dict[str, torch.Tensor]:
    """{style layer: Gram target}, several styles blended by ``cfg.style_blend``."""
    with torch.no_grad():
        grams = [{k: gram_matrix(v) for k, v in extractor(s).items()} for s in styles]
    blend = list(cfg.style_blend or [1.0] * len(styles))
    return {layer: blend_grams([g[layer] for g in grams], blend) for layer in cfg.style_layers}


class Objective(nn.Module):
    """image -> weighted loss terms. Targets are computed once, in fp32, without autograd.

    With ``bf16`` set only the network's forward runs in bfloat16 (autocast); its outputs
    come back to fp32 before the Gram matrices, so losses, targets, the image and the
    optimizer state never lose precision.
    """

    def __init__(self, extractor: nn.Module, content: torch.Tensor, style_targets: dict, cfg, bf16=False):
        super().__init__()
        self.extractor, self.cfg, self.bf16 = extractor, cfg, bf16
        weight = next(extractor.parameters())
        self.channels_last = weight.dim() == 4 and weight.is_contiguous(memory_format=torch.channels_last)
        self.targets = style_targets
        with torch.no_grad():
            self.content = ContentLoss(extractor(content)[cfg.content_layer])
        self.styles = nn.ModuleDict({layer: StyleLoss(style_targets[layer]) for layer in cfg.style_layers})
        layer_weights = cfg.style_layer_weights or [1.0] * len(cfg.style_layers)
        self.layer_weights = [w / sum(layer_weights) for w in layer_weights]

    def features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.channels_last:  # the network's layout (see Stylizer); gradients come back to image's
            image = image.contiguous(memory_format=torch.channels_last)
        if not self.bf16:
            return self.extractor(image)
        with torch.autocast(image.device.type, dtype=torch.bfloat16):
            features = self.extractor(image)
        return {k: v.float() for k, v in features.items()}

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        # The loss of the image as it will be saved: clamped to [0, 1]. L-BFGS has no box, and on
        # the unclamped iterate it had pushed pixels out of range to lower the style term: the
        # saved image then scored 10% worse than the last iterate (2.427 against 2.206, 512 px
        # default run). Optimizing the clamped image ended at 2.245, with the same iterations.
        image = image.clamp(0, 1)
        features = self.features(image)
        cfg = self.cfg
        content = cfg.content_weight * self.content(features[cfg.content_layer])
        style = cfg.style_weight * sum(
            w * loss(features[layer]) for w, (layer, loss) in zip(self.layer_weights, self.styles.items())
        )
        tv = cfg.tv_weight * total_variation(image)
        return {"content": content, "style": style, "tv": tv, "total": content + style + tv}
