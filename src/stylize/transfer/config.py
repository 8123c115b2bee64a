"""Every default of `stylize-train` / `stylize-predict`, in one place.

Like config.py it imports nothing heavy, so `stylize-train --help` never waits for torch.
(It sits beside config.py rather than inside it only to keep this change self-contained.)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from ..config import DEFAULT_WEIGHTS

EPOCHS_RANGE = (1, 100_000)
BATCH_SIZE_RANGE = (2, 65_536)  # BatchNorm1d cannot normalise a batch of one
IMAGE_SIZE_MAX = 2048
HIDDEN = 500  # width of the head's hidden layer (issue 6)
AUGMENT_VIEWS = 4  # with --augment: the plain view, its mirror and 2 random crops


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run. ``weights=None`` means the model's default source."""

    model: str = "vgg19"
    weights: Optional[str] = None  # bundled | torchvision | random | a file path
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3  # Adam
    val_split: float = 0.2  # held-out fraction of every class
    image_size: int = 224  # short edge resized to this, then a centred square crop
    augment: bool = False
    seed: int = 0  # split, head init, batch order, augmentation; random weights too
    device: str = "auto"

    def resolved(self) -> "TrainConfig":
        return replace(self, weights=self.weights or DEFAULT_WEIGHTS.get(self.model, "torchvision"))


TRAIN_DEFAULTS = TrainConfig()
PREDICT_TOP = 3
