"""The images of a training run: a folder of class folders scanned, split, and each image's
feature vectors extracted once (every epoch then costs only the head)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, has_file_allowed_extension, make_dataset
from torchvision.transforms import v2

from ..errors import BadInputError, one_line
from ..media.imageio import load_image, resize_long_edge, to_tensor
from ..net.features import PooledExtractor

EXTRACT_BATCH = 16  # images per extractor forward pass
Sample = tuple[str, int]  # (path, class index), as torchvision's make_dataset returns them


@dataclass
class ExtractProgress:
    stage: str  # "features" (every image, plain view) | "augmented views" (training images)
    done: int
    total: int
    skipped: list[str]  # error lines of the images of this batch that could not be read


@dataclass
class Features:
    """Cached extractor outputs of the images that could be read."""

    samples: list[Sample]
    vectors: torch.Tensor  # (N, V, D): V views per image, view 0 the plain one
    skipped: list[str] = field(default_factory=list)  # one error line per unreadable image

    @property
    def labels(self) -> torch.Tensor:
        return torch.tensor([label for _, label in self.samples], dtype=torch.long)


def scan_folder(data_dir: str | os.PathLike) -> tuple[list[str], list[Sample]]:
    """ImageFolder layout -> (class names, samples); at least 2 classes, none empty."""
    where = f"DATA_DIR '{data_dir}'"
    if not Path(data_dir).is_dir():
        raise BadInputError(f"{where}: {'not a folder' if Path(data_dir).exists() else 'folder not found'}")
    try:
        classes, class_to_idx = find_classes(data_dir)
    except FileNotFoundError:  # torchvision's word for "no sub-folders"
        classes, class_to_idx = [], {}
    if len(classes) < 2:
        found = f"1 class folder ('{classes[0]}')" if classes else "no class folders"
        raise BadInputError(f"{where}: found {found}; need at least 2, one sub-folder of images per class")
    samples = make_dataset(data_dir, class_to_idx, extensions=IMG_EXTENSIONS, allow_empty=True)
    counts = torch.bincount(torch.tensor([label for _, label in samples], dtype=torch.long),
                            minlength=len(classes))
    for name, count in zip(classes, counts.tolist()):
        if count == 0:
            raise BadInputError(
                f"{where}: class folder '{name}' holds no image files ({', '.join(IMG_EXTENSIONS)})"
            )
    return classes, samples


def stratified_split(labels: list[int], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices (train, val): ``fraction`` of every class held out, seeded; each class keeps a training image."""
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for label in sorted(set(labels)):
        members = [i for i, y in enumerate(labels) if y == label]
        n_val = min(round(len(members) * fraction), len(members) - 1)
        if fraction > 0 and len(members) > 1:
            n_val = max(n_val, 1)  # a small class still shows up in the validation numbers
        order = torch.randperm(len(members), generator=generator).tolist()
        val += [members[i] for i in order[:n_val]]
        train += [members[i] for i in order[n_val:]]
    return sorted(train), sorted(val)


def image_files(paths: list[str]) -> list[str]:
    """The images to predict: files as given, folders searched (recursively, sorted)."""
    files = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*") if f.is_file() and _is_image_name(f))
            if not found:
                raise BadInputError(f"image folder '{path}': no image files ({', '.join(IMG_EXTENSIONS)})")
            files += found
        elif p.exists():
            files.append(str(path))
        else:
            raise BadInputError(f"image '{path}': file not found")
    return files


def _is_image_name(path: Path) -> bool:
    return has_file_allowed_extension(path.name, IMG_EXTENSIONS)


class _ImageViews(Dataset):
    """Sample i -> (i, views (V, 3, S, S) or None, error line or None).

    ``extra_views=0``: the plain view only. Otherwise the mirror of the plain view and
    ``extra_views - 1`` random resized crops, seeded per image so they do not depend on
    the batch order.
    """

    def __init__(self, samples: list[Sample], size: int, extra_views: int = 0, seed: int = 0):
        self.samples, self.size, self.extra_views, self.seed = samples, size, extra_views, seed
        self.random_view = v2.Compose([
            v2.RandomResizedCrop(size, scale=(0.35, 1.0), antialias=True), v2.RandomHorizontalFlip(),
        ])

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        try:
            image = load_image(self.samples[i][0], "image")
        except BadInputError as e:
            return i, None, one_line(e)
        w, h = image.size
        # Short edge to `size`: rounding up so the centred crop is never a pixel short.
        x = to_tensor(resize_long_edge(image, math.ceil(self.size * max(w, h) / min(w, h))))[0]
        plain = v2.functional.center_crop(x, [self.size])  # (3, S, S)
        if not self.extra_views:
            return i, plain[None], None
        with torch.random.fork_rng(devices=[]):  # torchvision's random transforms draw from the global RNG
            torch.manual_seed(self.seed * 1_000_003 + i)
            crops = [self.random_view(x) for _ in range(self.extra_views - 1)]
        return i, torch.stack([plain.flip(-1), *crops]), None


def extract(
    extractor: PooledExtractor,
    samples: list[Sample],
    *,
    size: int,
    device: torch.device,
    extra_views: int = 0,
    seed: int = 0,
    stage: str = "features",
    on_progress: Optional[Callable[[ExtractProgress], None]] = None,
) -> Features:
    """Run every image through the frozen extractor once; unreadable ones are skipped."""
    loader = DataLoader(_ImageViews(samples, size, extra_views, seed), batch_size=EXTRACT_BATCH,
                        collate_fn=list)  # keep (i, views, error) items: some have no views
    kept, vectors, skipped, done = [], [], [], 0
    with torch.no_grad():
        for items in loader:
            good = [(i, views) for i, views, error in items if error is None]
            errors = [error for _, _, error in items if error is not None]
            skipped += errors
            if good:
                batch = torch.stack([views for _, views in good]).to(device)  # (B, V, 3, S, S)
                out = extractor(batch.flatten(0, 1))  # (B*V, D)
                vectors.append(out.unflatten(0, (len(good), -1)).cpu())  # (B, V, D)
                kept += [samples[i] for i, _ in good]
            done += len(items)
            if on_progress is not None:
                on_progress(ExtractProgress(stage, done, len(samples), errors))
    views = max(extra_views, 1)
    return Features(kept, torch.cat(vectors) if vectors else torch.empty(0, views, extractor.width), skipped)


def take(features: Features, indices: list[int]) -> Features:
    return Features([features.samples[i] for i in indices], features.vectors[indices])
