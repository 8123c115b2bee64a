"""The `stylize-train` and `stylize-predict` commands: transfer learning on the extractor.

Only this module prints; transfer/classify.py does the work. Torch loads inside the commands,
so `--help` is instant. Expected failures are one line on stderr: exit 2 for bad
input, 1 for a failed run (common.OneLineErrors does the same for Click's own errors).
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import click

from ..config import MODELS
from ..errors import BadInputError, StylizeError, cli_flag, one_line
from ..transfer.config import PREDICT_TOP, TRAIN_DEFAULTS, TrainConfig
from .common import OneLineErrors
from .display import Display

CONTEXT = {"help_option_names": ["-h", "--help"]}
DEVICES = "auto|cpu|cuda|cuda:N|mps"
WEIGHT_SOURCES = "bundled|torchvision|random|FILE"


@contextmanager
def _exit_on_error(ctx: click.Context):
    """The library's errors -> 'Error: ...' and their exit code; no traceback."""
    try:
        yield
    except StylizeError as e:
        click.echo(f"Error: {one_line(e, cli_flag)}", err=True)
        ctx.exit(e.exit_code)


@click.command(cls=OneLineErrors, context_settings=CONTEXT)
@click.argument("data_dir")
@click.option("-o", "--output", default="head.pt", show_default=True, help="The head file to write.")
@click.option("--model", type=click.Choice(MODELS), default=TRAIN_DEFAULTS.model, show_default=True)
@click.option("--weights", metavar=WEIGHT_SOURCES,
              help="Weight source [default: bundled for vgg19 (offline), torchvision for the others]")
@click.option("--epochs", type=int, default=TRAIN_DEFAULTS.epochs, show_default=True)
@click.option("--batch-size", type=int, default=TRAIN_DEFAULTS.batch_size, show_default=True)
@click.option("--lr", type=float, default=TRAIN_DEFAULTS.lr, show_default=True, help="Adam's learning rate.")
@click.option("--val-split", type=float, default=TRAIN_DEFAULTS.val_split, show_default=True,
              help="Fraction of every class held out for validation (seeded).")
@click.option("--image-size", type=int, default=TRAIN_DEFAULTS.image_size, show_default=True,
              help="Short edge resized to this, then a centred square crop, px.")
@click.option("--augment/--no-augment", default=TRAIN_DEFAULTS.augment, show_default=True,
              help="Also train on each image's mirror and 2 random crops (4x the extraction time).")
@click.option("--seed", type=int, default=TRAIN_DEFAULTS.seed, show_default=True)
@click.option("--device", default=TRAIN_DEFAULTS.device, show_default=True, metavar=DEVICES)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success; warnings still go to stderr.")
@click.version_option(package_name="stylize")
@click.pass_context
def train(ctx, data_dir, output, quiet, **options):
    """Train a classifier head on the frozen, pretrained feature extractor.

    DATA_DIR holds one sub-folder of images per class (torchvision's ImageFolder
    layout). Each image goes through the extractor once; the epochs train only the head.

    \b
    stylize-train photos/ -o head.pt --epochs 30
    stylize-predict head.pt new_photo.jpg
    """
    with _exit_on_error(ctx):
        _train(data_dir, output, TrainConfig(**options), quiet)


def _train(data_dir: str, output: str, config: TrainConfig, quiet: bool) -> None:
    from ..transfer import classify  # torch loads here, not for --help

    classify.check_output(output)  # before any work: a bad path must not cost a whole run
    bars = _Bars(quiet)
    try:
        result = classify.train(data_dir, config=config, on_extract=bars.extract, on_epoch=bars.epoch)
    finally:
        bars.close()
    classify.save_head(result, output)
    if not quiet:
        _print_report(result)
        _print_summary(result, output)


class _Bars:
    """The library's callbacks on a ``Display``: a bar per extraction stage, then one for the epochs."""

    def __init__(self, quiet: bool):
        self.display, self.stage = Display(quiet), None

    def extract(self, progress) -> None:
        if progress.stage != self.stage:
            self.stage = progress.stage
            self.display.open("outer", progress.total, progress.stage, "img", rate=True)
        for line in progress.skipped:
            self.display.say(f"Warning: skipped {line}", always=True)
        self.display.advance("outer", progress.done)

    def epoch(self, stats) -> None:
        val = "" if stats.val_accuracy is None else f" val {stats.val_accuracy:.1%}"
        numbers = f"loss {stats.loss:.4f} train {stats.train_accuracy:.1%}{val}"
        every = max(1, stats.epochs // 10)  # a log: a plain line every tenth of the epochs
        if self.display.log and (stats.epoch % every == 0 or stats.epoch == stats.epochs):
            self.display.say(f"epochs {stats.epoch}/{stats.epochs}: {numbers}")
        if self.stage != "epochs":
            self.stage = "epochs"
            self.display.open("outer", stats.epochs, "epochs", "epoch", leave=True, rate=True)  # keeps the numbers
        self.display.advance("outer", stats.epoch, numbers)

    def close(self) -> None:
        self.display.close()


def _print_report(result) -> None:
    """Per-class accuracy and the confusion matrix, as text."""
    confusion, classes = result.confusion.tolist(), result.classes
    name_w = max(map(len, classes + ["class"]))
    click.echo(f"Accuracy by class ({result.evaluated_on} images):")
    click.echo(f"  {'class':<{name_w}}  images  correct  accuracy")
    for i, name in enumerate(classes):
        total, correct = sum(confusion[i]), confusion[i][i]
        accuracy = f"{correct / total:.1%}" if total else "-"
        click.echo(f"  {name:<{name_w}}  {total:>6}  {correct:>7}  {accuracy:>8}")
    cell_w = max(len(f"[{len(classes) - 1}]"), len(str(max(map(max, confusion))))) + 2
    label_w = name_w + len(f"[{len(classes) - 1}] ")
    click.echo("Confusion matrix (rows: true class, columns: predicted):")
    click.echo("  " + " " * label_w + "".join(f"{f'[{j}]':>{cell_w}}" for j in range(len(classes))))
    for i, name in enumerate(classes):
        label = f"[{i}] {name}"
        click.echo(f"  {label:<{label_w}}" + "".join(f"{n:>{cell_w}}" for n in confusion[i]))


def _print_summary(result, output: str) -> None:
    cfg, last = result.config, result.history[-1]
    val = "" if last.val_accuracy is None else f", validation {last.val_accuracy:.1%}"
    click.echo(
        f"{output}: {len(result.classes)}-class head on {cfg.model} ({cfg.weights} weights);"
        f" {len(result.train_samples)} training, {len(result.val_samples)} validation images,"
        f" {len(result.skipped)} unreadable skipped; accuracy: training {last.train_accuracy:.1%}{val}"
        f" after {cfg.epochs} epochs ({result.seconds:.1f} s on {result.device}, seed {cfg.seed})"
    )


@click.command(cls=OneLineErrors, context_settings=CONTEXT)
@click.argument("head")
@click.argument("images", nargs=-1, required=True, metavar="IMAGE...")
@click.option("--top", type=int, default=PREDICT_TOP, show_default=True, help="Classes shown per image.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document, for scripts.")
@click.option("--weights", metavar=WEIGHT_SOURCES, help="Weight source [default: the one the head was trained on]")
@click.option("--device", default=TRAIN_DEFAULTS.device, show_default=True, metavar=DEVICES)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar; warnings and results still print.")
@click.version_option(package_name="stylize")
@click.pass_context
def predict(ctx, head, images, top, as_json, weights, device, quiet):
    """Print the most likely classes of each IMAGE (a file, or a folder of them).

    HEAD is a file written by stylize-train.

    \b
    stylize-predict head.pt photo.jpg more_photos/ --top 3
    stylize-predict head.pt photos/ --json > predictions.json
    """
    with _exit_on_error(ctx):
        _predict(head, list(images), top, as_json, weights, device, quiet)


def _predict(head: str, images: list[str], top: int, as_json: bool, weights, device: str, quiet: bool) -> None:
    from ..transfer import classify, data  # torch loads here, not for --help

    files = data.image_files(images)
    classifier = classify.load_classifier(head, device=device, weights=weights)
    bars = _Bars(quiet)
    try:
        predictions, skipped = classify.predict(classifier, files, top=top, on_progress=bars.extract)
    finally:
        bars.close()
    if not predictions:
        raise BadInputError(f"none of the {len(files)} images could be read")
    if as_json:
        records = [{"image": p.image, "top": [{"class": c, "probability": round(prob, 6)} for c, prob in p.top]}
                   for p in predictions]
        click.echo(json.dumps({"predictions": records, "skipped": skipped}, indent=2))
        return
    for p in predictions:
        click.echo(f"{p.image}: " + ", ".join(f"{c} {prob:.3f}" for c, prob in p.top))
