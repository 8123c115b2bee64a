"""Transfer learning: a new classifier head on the frozen, pretrained feature extractor.

The extractor (the network without its classifier, see features.build_pooled_extractor)
never trains, so each image goes through it once: its (D,) feature vector is cached in
memory and every epoch costs only the head. With ``augment`` a training image is also
seen as its mirror and two random crops (AUGMENT_VIEWS in all), extracted once up front;
each epoch trains on one of those views per image, drawn anew. Validation and prediction
always use the plain view: short edge resized to ``image_size``, centred square crop.

Nothing here prints; progress goes to callbacks and failures are StylizeErrors.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..config import MODELS, in_range
from ..core.device import resolve_device
from ..errors import BadInputError, RunError, one_line
from ..media.imageio import atomic_write, check_writable
from ..net.features import PooledExtractor, build_pooled_extractor
from ..net.layers import layer_names, min_input_size
from ..net.weights import load_torch_file, load_weights
from .config import (
    AUGMENT_VIEWS,
    BATCH_SIZE_RANGE,
    EPOCHS_RANGE,
    HIDDEN,
    IMAGE_SIZE_MAX,
    PREDICT_TOP,
    TRAIN_DEFAULTS,
    TrainConfig,
)
from .data import ExtractProgress, Features, Sample, extract, scan_folder, stratified_split, take

HEAD_FORMAT, HEAD_VERSION = "stylize-head", 1
_HEAD_KEYS = ("model", "weights", "seed", "classes", "image_size", "hidden", "state_dict")


@dataclass
class EpochStats:
    epoch: int
    epochs: int
    loss: float  # mean cross-entropy of the epoch's training batches
    train_accuracy: float  # of the head after the epoch, on the plain views
    val_accuracy: Optional[float]  # None without a validation set


@dataclass
class TrainResult:
    head: nn.Sequential
    extractor: PooledExtractor
    classes: list[str]
    config: TrainConfig  # resolved
    history: list[EpochStats]
    train_samples: list[Sample]
    val_samples: list[Sample]
    confusion: torch.Tensor  # (C, C) rows: true class, columns: predicted
    evaluated_on: str  # "validation", or "training" when there is no validation set
    skipped: list[str]
    device: str
    seconds: float
    preprocess: dict  # mean, std, bgr of the weights (applied inside the extractor)


# ---------------------------------------------------------------- settings and data


def validate(config: TrainConfig) -> TrainConfig:
    """Check every setting; returns the resolved config or raises BadInputError."""
    cfg = config.resolved()
    in_range("epochs", cfg.epochs, *EPOCHS_RANGE)
    in_range("batch_size", cfg.batch_size, *BATCH_SIZE_RANGE)
    if not cfg.lr > 0:
        raise BadInputError(f"must be > 0 (got {cfg.lr})", "lr")
    if not 0 <= cfg.val_split < 1:
        raise BadInputError(f"must be >= 0 and < 1 (got {cfg.val_split})", "val_split")
    need = min_input_size(cfg.model, layer_names(cfg.model)[-1:])  # also rejects unknown models
    in_range("image_size", cfg.image_size, need, IMAGE_SIZE_MAX)
    return cfg


# ---------------------------------------------------------------- the head and its training


def make_head(width: int, n_classes: int, hidden: int = HIDDEN) -> nn.Sequential:
    """Linear(D, 500) -> BatchNorm1d -> ReLU -> Linear(500, C): the only part that trains."""
    return nn.Sequential(
        nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
    )


def batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Shuffled index batches; the last may be smaller, but never a single sample."""
    parts = list(torch.randperm(n, generator=generator).split(batch_size))
    if len(parts) > 1 and len(parts[-1]) == 1:
        # BatchNorm1d cannot normalise one sample in training mode: join it to the batch before.
        parts[-2:] = [torch.cat(parts[-2:])]
    return parts


def predict_labels(head: nn.Module, vectors: torch.Tensor) -> torch.Tensor:
    """(N, D) features -> (N,) class indices, with BatchNorm's running statistics."""
    head.eval()
    with torch.no_grad():
        return head(vectors).argmax(1)


def accuracy(head: nn.Module, vectors: torch.Tensor, labels: torch.Tensor) -> float:
    return (predict_labels(head, vectors) == labels).float().mean().item()


def confusion_matrix(true: torch.Tensor, predicted: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(C, C) counts; row: true class, column: predicted class."""
    return torch.bincount(true * n_classes + predicted, minlength=n_classes**2).view(n_classes, n_classes)


def fit_head(head, train: Features, val: Optional[Features], cfg: TrainConfig, device, on_epoch=None):
    """Adam on cross-entropy over the cached features; returns one EpochStats per epoch."""
    x, y = train.vectors.to(device), train.labels.to(device)  # (N, V, D), (N,)
    rows = torch.arange(len(y), device=device)
    generator = torch.Generator().manual_seed(cfg.seed)
    optimizer = torch.optim.Adam(head.parameters(), lr=cfg.lr)
    history = []
    for epoch in range(1, cfg.epochs + 1):
        view = torch.randint(x.shape[1], (len(y),), generator=generator).to(device)
        inputs = x[rows, view]  # (N, D): one cached view per image this epoch
        head.train()
        total = 0.0
        for batch in batches(len(y), cfg.batch_size, generator):
            batch = batch.to(device)
            loss = F.cross_entropy(head(inputs[batch]), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        val_acc = accuracy(head, val.vectors[:, 0].to(device), val.labels.to(device)) if val else None
        history.append(EpochStats(epoch, cfg.epochs, total / len(y), accuracy(head, x[:, 0], y), val_acc))
        if on_epoch is not None:
            on_epoch(history[-1])
    return history


# ---------------------------------------------------------------- one training run


def train(
    data_dir: str | os.PathLike,
    *,
    config: TrainConfig = TRAIN_DEFAULTS,
    on_extract: Optional[Callable[[ExtractProgress], None]] = None,
    on_epoch: Optional[Callable[[EpochStats], None]] = None,
) -> TrainResult:
    """Train a head for the classes of ``data_dir`` (one sub-folder of images per class)."""
    cfg = validate(config)
    classes, samples = scan_folder(data_dir)
    device = resolve_device(cfg.device)
    weights = load_weights(cfg.model, cfg.weights)
    extractor = build_pooled_extractor(cfg.model, weights, seed=cfg.seed).to(device)
    start = time.perf_counter()
    plain = extract(extractor, samples, size=cfg.image_size, device=device, on_progress=on_extract)
    _check_readable(data_dir, classes, plain)
    train_idx, val_idx = stratified_split(plain.labels.tolist(), cfg.val_split, cfg.seed)
    train_f, val_f = take(plain, train_idx), (take(plain, val_idx) if val_idx else None)
    if cfg.augment:
        more = extract(extractor, train_f.samples, size=cfg.image_size, device=device,
                       extra_views=AUGMENT_VIEWS - 1, seed=cfg.seed, stage="augmented views",
                       on_progress=on_extract)
        if more.skipped:  # read a moment ago: the file changed under us
            raise RunError(f"{more.skipped[0]} (while extracting augmented views)")
        train_f.vectors = torch.cat([train_f.vectors, more.vectors], dim=1)  # (N, AUGMENT_VIEWS, D)
    with torch.random.fork_rng(devices=[]):  # a seeded head without touching the caller's RNG
        torch.manual_seed(cfg.seed)
        head = make_head(extractor.width, len(classes)).to(device)
    history = fit_head(head, train_f, val_f, cfg, device, on_epoch)
    shown = val_f or train_f
    predicted = predict_labels(head, shown.vectors[:, 0].to(device)).cpu()
    return TrainResult(
        head=head, extractor=extractor, classes=classes, config=cfg, history=history,
        train_samples=train_f.samples, val_samples=val_f.samples if val_f else [],
        confusion=confusion_matrix(shown.labels, predicted, len(classes)),
        evaluated_on="validation" if val_f else "training", skipped=plain.skipped,
        device=str(device), seconds=time.perf_counter() - start, preprocess=weights.preprocess,
    )


def _check_readable(data_dir, classes: list[str], features: Features) -> None:
    counts = torch.bincount(features.labels, minlength=len(classes)).tolist()
    for name, count in zip(classes, counts):
        if count == 0:
            raise BadInputError(f"DATA_DIR '{data_dir}': no image of class '{name}' could be read")


# ---------------------------------------------------------------- the head file


def check_output(path: str | os.PathLike) -> None:
    """Fail before any work if the head file cannot be written there."""
    check_writable(path)


def save_head(result: TrainResult, path: str | os.PathLike) -> None:
    """The head's weights and all predict needs to rebuild the same extractor, atomically."""
    cfg = result.config
    weights = cfg.weights
    if weights not in ("bundled", "torchvision", "random"):
        weights = str(Path(weights).resolve())  # a file: predict may run from another folder
    record = {
        "format": HEAD_FORMAT, "version": HEAD_VERSION,
        "model": cfg.model, "weights": weights,
        "seed": cfg.seed,  # rebuilds the same extractor for --weights random
        "classes": list(result.classes), "image_size": cfg.image_size,
        "preprocess": {"resize": "short edge to image_size, centred square crop", "range": "RGB [0, 1]",
                       **{k: list(v) if isinstance(v, tuple) else v for k, v in result.preprocess.items()}},
        "feature_width": result.extractor.width, "hidden": HIDDEN,
        "val_accuracy": result.history[-1].val_accuracy,
        "state_dict": {k: v.detach().cpu() for k, v in result.head.state_dict().items()},
    }
    atomic_write(path, lambda f: torch.save(record, f))


def read_head(path: str | os.PathLike) -> dict:
    """The record save_head wrote, or BadInputError naming the file."""
    where = f"head '{path}'"
    record = load_torch_file(path, where, "not a head file from stylize-train")
    if not isinstance(record, dict) or record.get("format") != HEAD_FORMAT:
        raise BadInputError(f"{where}: not a head file from stylize-train")
    if record.get("version") != HEAD_VERSION:
        version = record.get("version")
        raise BadInputError(f"{where}: head file version {version}; this stylize reads {HEAD_VERSION}")
    missing = [key for key in _HEAD_KEYS if key not in record]
    if not isinstance(record.get("state_dict"), dict):
        missing.append("state_dict")
    if missing:
        raise BadInputError(f"{where}: not a head file from stylize-train (no '{missing[0]}')")
    if record["model"] not in MODELS:
        raise BadInputError(f"{where}: made for unknown model '{record['model']}' (valid: {', '.join(MODELS)})")
    return record


@dataclass
class Classifier:
    """A saved head on its rebuilt extractor, ready for :func:`predict`."""

    head: nn.Sequential
    extractor: PooledExtractor
    classes: list[str]
    image_size: int
    device: torch.device


def load_classifier(path: str | os.PathLike, *, device: str = "auto", weights: Optional[str] = None) -> Classifier:
    """Rebuild extractor + head from a head file; ``weights`` overrides the recorded source."""
    record = read_head(path)
    dev = resolve_device(device)
    where, model = f"head '{path}'", record["model"]
    source = load_weights(model, weights or record["weights"])
    extractor = build_pooled_extractor(model, source, seed=record["seed"])
    state = record["state_dict"]
    first = state.get("0.weight")
    width = first.shape[1] if first is not None and first.dim() == 2 else None
    if width != extractor.width:
        raise BadInputError(f"{where}: the head takes {width} features, {model} gives {extractor.width}"
                            " (a head for another model?)")
    head = make_head(width, len(record["classes"]), record["hidden"])
    try:
        head.load_state_dict(state)
    except RuntimeError as e:
        raise BadInputError(f"{where}: the head's weights do not fit its classes ({one_line(e)})") from None
    return Classifier(head.to(dev).eval(), extractor.to(dev), list(record["classes"]), record["image_size"], dev)


@dataclass
class Prediction:
    image: str
    top: list[tuple[str, float]]  # (class, probability), most likely first


def predict(
    classifier: Classifier,
    paths: list[str],
    *,
    top: int = PREDICT_TOP,
    on_progress: Optional[Callable[[ExtractProgress], None]] = None,
) -> tuple[list[Prediction], list[str]]:
    """Top classes per image; returns (predictions, one error line per unreadable image)."""
    if top < 1:
        raise BadInputError(f"must be >= 1 (got {top})", "top")
    c = classifier
    features = extract(c.extractor, [(p, -1) for p in paths], size=c.image_size, device=c.device,
                       on_progress=on_progress)
    with torch.no_grad():
        probs = F.softmax(c.head(features.vectors[:, 0].to(c.device)), dim=1).cpu()  # (N, C)
    values, indices = probs.topk(min(top, len(c.classes)), dim=1)
    predictions = [
        Prediction(path, [(c.classes[j], p) for p, j in zip(v.tolist(), i.tolist())])
        for (path, _), v, i in zip(features.samples, values, indices)
    ]
    return predictions, features.skipped
