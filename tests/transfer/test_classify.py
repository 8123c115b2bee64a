"""stylize-train / stylize-predict: transfer learning on the frozen extractor (issue 6).

The datasets are made here from the repo's own photos and paintings: one class per
picture, samples are random square crops (some mirrored). Each picture is cut into a
4 x 4 checkerboard; training crops lie inside the "white" cells, held-out crops inside
the "black" ones, so no held-out pixel was seen in training and a head can only score
there if the features describe the picture rather than the crop.
"""

import json
import random
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from stylize.cli.train import predict, train
from stylize.net.features import build_pooled_extractor
from stylize.net.weights import load_weights
from stylize.transfer import classify, data
from stylize.transfer.config import TrainConfig

from conftest import EXAMPLES, only_line

PICTURES = ["chelsea", "astronaut", "coffee", "starry_night", "wave", "the_scream", "shipwreck"]
WHITE, BLACK = 0, 1  # parity of (column + row) of the checkerboard cells a set is drawn from
GRID = 4


def make_crops(folder, names, colour, per_class, seed, px=64):
    """``folder/<name>/NNN.png``: ``per_class`` crops, each inside one cell of the ``colour``."""
    rng = random.Random(seed)
    for name in names:
        (folder / name).mkdir(parents=True, exist_ok=True)
        im = Image.open(EXAMPLES / f"{name}.jpg").convert("RGB")
        cw, ch = im.width / GRID, im.height / GRID
        cells = [(i, j) for i in range(GRID) for j in range(GRID) if (i + j) % 2 == colour]
        for k in range(per_class):
            i, j = rng.choice(cells)
            s = int(min(cw, ch) * rng.uniform(0.7, 1.0))
            left, top = int(i * cw) + rng.randrange(int(cw) - s + 1), int(j * ch) + rng.randrange(int(ch) - s + 1)
            crop = im.crop((left, top, left + s, top + s)).resize((px, px), Image.Resampling.LANCZOS)
            if rng.random() < 0.5:
                crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            crop.save(folder / name / f"{k:03d}.png")
    return folder


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """7 classes: 32 training crops each (white cells), 10 held-out crops each (black cells)."""
    root = tmp_path_factory.mktemp("pictures")
    train_dir = make_crops(root / "train", PICTURES, WHITE, 32, seed=0)
    return train_dir, make_crops(root / "heldout", PICTURES, BLACK, 10, seed=1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """3 classes x 6 small crops: for plumbing runs on random weights."""
    return make_crops(tmp_path_factory.mktemp("tiny") / "data", ["chelsea", "coffee", "wave"], WHITE, 6, seed=2, px=40)


TINY = ["--weights", "random", "--image-size", "32", "--epochs", "3"]


@pytest.fixture(scope="module")
def tiny_head(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("head") / "head.pt"
    classify.save_head(classify.train(tiny, config=TrainConfig(weights="random", image_size=32, epochs=3)), out)
    return out


def invoke(command, *args):
    return CliRunner().invoke(command, [str(a) for a in args], catch_exceptions=False)


def predict_json(head, *images) -> dict:
    result = invoke(predict, head, *images, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def accuracy_by_folder(predictions: dict) -> float:
    """The true class of a crop is the name of its folder."""
    records = predictions["predictions"]
    return sum(r["top"][0]["class"] == r["image"].split("/")[-2] for r in records) / len(records)


# ---------------------------------------------------------------- the features carry over


@pytest.mark.slow
def test_pretrained_features_carry_over_and_random_ones_do_not(pictures, tmp_path):
    train_dir, heldout = pictures
    config = TrainConfig(image_size=64, val_split=0.25, batch_size=20, epochs=30)  # 168 = 8 x 20 + 8
    held, results = {}, {}
    for weights in ("bundled", "random"):
        result = results[weights] = classify.train(train_dir, config=replace(config, weights=weights))
        head = tmp_path / f"{weights}.pt"
        classify.save_head(result, head)
        held[weights] = accuracy_by_folder(predict_json(head, heldout))
    assert held["bundled"] >= 0.9, held
    assert held["random"] <= held["bundled"] - 0.25, held  # measured: 0.97 vs 0.63

    result = results["bundled"]
    assert len(result.train_samples) == 168 and len(result.val_samples) == 56
    assert result.history[-1].val_accuracy >= 0.9
    # predict sees what training saw: same preprocessing, same features, same verdicts.
    val = predict_json(tmp_path / "bundled.pt", *[path for path, _ in result.val_samples])
    assert accuracy_by_folder(val) == pytest.approx(result.history[-1].val_accuracy, abs=1e-6)
    assert result.confusion.sum().item() == 56
    assert result.confusion.diag().sum().item() == round(56 * result.history[-1].val_accuracy)


def test_extractor_frozen_head_trained(tiny):
    config = TrainConfig(weights="random", image_size=32, epochs=3, seed=5)
    result = classify.train(tiny, config=config)
    fresh = build_pooled_extractor("vgg19", load_weights("vgg19", "random"), seed=5)
    trained = result.extractor.state_dict()
    assert trained.keys() == fresh.state_dict().keys()
    assert all(torch.equal(trained[k], v) for k, v in fresh.state_dict().items())
    assert not any(p.requires_grad for p in result.extractor.parameters()) and not result.extractor.training
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        initial = classify.make_head(512, 3)
    changed = [not torch.equal(p, q) for p, q in zip(result.head.state_dict().values(), initial.state_dict().values())]
    assert all(changed)  # every weight, bias and BatchNorm statistic moved
    assert [m.__class__.__name__ for m in result.head] == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert result.head[0].in_features == 512 and result.head[0].out_features == 500


# ---------------------------------------------------------------- pieces


@pytest.mark.parametrize("n, size, expected", [(13, 4, [4, 4, 5]), (14, 4, [4, 4, 4, 2]), (3, 8, [3])])
def test_batches_keep_the_smaller_last_batch_but_never_one_sample(n, size, expected):
    parts = classify.batches(n, size, torch.Generator().manual_seed(0))
    assert [len(p) for p in parts] == expected
    assert sorted(torch.cat(parts).tolist()) == list(range(n))


def test_split_is_stratified_and_seeded():
    labels = [0] * 10 + [1] * 5 + [2] * 2 + [3]
    train_idx, val_idx = data.stratified_split(labels, 0.2, seed=0)
    assert [sum(labels[i] == c for i in val_idx) for c in range(4)] == [2, 1, 1, 0]
    assert sorted(train_idx + val_idx) == list(range(len(labels)))
    assert data.stratified_split(labels, 0.2, seed=0) == (train_idx, val_idx)
    assert data.stratified_split(labels, 0.2, seed=1) != (train_idx, val_idx)


def test_augmented_views_are_seeded_and_differ(tiny):
    samples = data.scan_folder(tiny)[1][:2]
    views = data._ImageViews(samples, 32, extra_views=3, seed=0)
    _, first, _ = views[0]
    plain = data._ImageViews(samples, 32)[0][1][0]
    assert first.shape == (3, 3, 32, 32)
    assert torch.equal(first[0], plain.flip(-1))  # the mirror
    assert not torch.equal(first[1], first[2])  # two different random crops
    assert torch.equal(views[0][1], first)  # the same views however often they are made


def test_augment_trains_on_more_views(tiny):
    plain = classify.train(tiny, config=TrainConfig(weights="random", image_size=32, epochs=2))
    seen = []
    augmented = classify.train(tiny, config=TrainConfig(weights="random", image_size=32, epochs=2, augment=True),
                               on_extract=seen.append)
    assert [(p.stage, p.done, p.total) for p in seen] == [("features", 16, 18), ("features", 18, 18),
                                                          ("augmented views", 15, 15)]
    assert not torch.equal(plain.head[0].weight, augmented.head[0].weight)


# ---------------------------------------------------------------- the commands


def test_train_cli_report_summary_and_a_last_batch_of_one(tiny, tmp_path):
    out = tmp_path / "head.pt"
    # 15 training images in batches of 7: 7, 7 and 1 -> the lone sample joins the batch before.
    result = invoke(train, tiny, "-o", out, *TINY, "--batch-size", "7", "--val-split", "0.2")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["Accuracy by class (validation images):", "  class    images  correct  accuracy"]
    assert lines[2].startswith("  chelsea       1  ")
    assert lines[5:7] == ["Confusion matrix (rows: true class, columns: predicted):",
                          "               [0]  [1]  [2]"]
    assert lines[7].startswith("  [0] chelsea  ")
    assert lines[-1].startswith(f"{out}: 3-class head on vgg19 (random weights); 15 training, 3 validation images,"
                                " 0 unreadable skipped; accuracy: training ")
    assert "after 3 epochs" in lines[-1]
    assert "epochs" in result.stderr and "loss " in result.stderr and "val " in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["head.pt"]  # no temporary left
    record = classify.read_head(out)
    assert record["classes"] == ["chelsea", "coffee", "wave"]
    assert (record["model"], record["weights"], record["image_size"], record["hidden"]) == ("vgg19", "random", 32, 500)


def test_predict_text_top_k_and_folders(tiny_head, tiny):
    result = invoke(predict, tiny_head, tiny / "wave", tiny / "chelsea" / "000.png", "--top", "2")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 7
    assert lines[0].startswith(f"{tiny}/wave/000.png: ")
    assert lines[-1].startswith(f"{tiny}/chelsea/000.png: ")
    classes = [part.rsplit(" ", 1) for part in lines[0].split(": ", 1)[1].split(", ")]
    assert len(classes) == 2 and {c for c, _ in classes} <= {"chelsea", "coffee", "wave"}
    probabilities = [float(p) for _, p in classes]
    assert probabilities == sorted(probabilities, reverse=True)


def test_unreadable_images_are_skipped_and_counted(tiny, tmp_path):
    data = tmp_path / "data"
    for folder in tiny.iterdir():
        (data / folder.name).mkdir(parents=True)
        for f in folder.iterdir():
            (data / folder.name / f.name).write_bytes(f.read_bytes())
    (data / "wave" / "broken.jpg").write_text("not a picture\n")
    result = invoke(train, data, "-o", tmp_path / "head.pt", *TINY)
    assert result.exit_code == 0, result.stderr
    assert f"Warning: skipped image '{data}/wave/broken.jpg': not an image file Pillow can read" in result.stderr
    assert ", 1 unreadable skipped;" in result.stdout.splitlines()[-1]
    out = invoke(predict, tmp_path / "head.pt", data / "wave", "--json")
    assert out.exit_code == 0
    report = json.loads(out.stdout)
    assert len(report["predictions"]) == 6
    assert report["skipped"] == [f"image '{data}/wave/broken.jpg': not an image file Pillow can read"]


def test_help_does_not_import_torch():
    code = "import sys, stylize.cli.train; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- errors: one line, exit code, nothing written


def _folder(root, classes):
    """``root/<class>/`` with the given number of tiny images in each."""
    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(root / name / f"{i}.png")
    return root


EXTS = ".jpg, .jpeg, .png, .ppm, .bmp, .pgm, .tif, .tiff, .webp"
TRAIN_CASES = [
    (["{tmp}/nope"], 2, "Error: DATA_DIR '{tmp}/nope': folder not found"),
    (["{tmp}/notes.txt"], 2, "Error: DATA_DIR '{tmp}/notes.txt': not a folder"),
    (["{none}"], 2, "Error: DATA_DIR '{none}': found no class folders; need at least 2, one sub-folder of images per class"),
    (["{one}"], 2, "Error: DATA_DIR '{one}': found 1 class folder ('cats'); need at least 2, one sub-folder of images per class"),
    (["{empty}"], 2, f"Error: DATA_DIR '{{empty}}': class folder 'dogs' holds no image files ({EXTS})"),
    (["{good}", "--val-split", "1"], 2, "Error: --val-split: must be >= 0 and < 1 (got 1.0)"),
    (["{good}", "--batch-size", "1"], 2, "Error: --batch-size: 1 is out of range (2 to 65536)"),
    (["{good}", "--epochs", "0"], 2, "Error: --epochs: 0 is out of range (1 to 100000)"),
    (["{good}", "--lr", "0"], 2, "Error: --lr: must be > 0 (got 0.0)"),
    (["{good}", "--image-size", "16"], 2, "Error: --image-size: 16 is out of range (32 to 2048)"),
    (["{good}", "--model", "alexnet"], 2, "Error: Invalid value for '--model': 'alexnet' is not one of 'vgg19', 'vgg16', 'resnet50'."),
    (["{good}", "--model", "resnet50", "--weights", "bundled"], 2,
     "Error: --weights bundled: only vgg19 is bundled (got --model resnet50); use --weights torchvision or a state_dict file"),
    (["{good}", "--device", "tpu"], 2, "Error: --device: 'tpu' is not one of auto, cpu, cuda, cuda:N, mps"),
    (["{good}", "-o", "{tmp}/notes.txt/head.pt"], 2, "Error: output '{tmp}/notes.txt/head.pt': '{tmp}/notes.txt' is not a folder"),
    (["{good}", "-o", "{tmp}"], 2, "Error: output '{tmp}': is a folder"),
]


@pytest.fixture
def folders(tmp_path):
    (tmp_path / "notes.txt").write_text("not a picture\n")
    (tmp_path / "none").mkdir()
    return {"tmp": tmp_path, "none": tmp_path / "none", "one": _folder(tmp_path / "one", {"cats": 2}),
            "empty": _folder(tmp_path / "empty", {"cats": 2, "dogs": 0}),
            "good": _folder(tmp_path / "good", {"cats": 2, "dogs": 2})}


@pytest.mark.parametrize("args, code, line", TRAIN_CASES, ids=[c[2][7:45] for c in TRAIN_CASES])
def test_train_bad_input_is_one_line(folders, args, code, line):
    tmp = folders["tmp"]
    args = [a.format(**folders) for a in args]
    if "-o" not in args:
        args += ["-o", tmp / "head.pt"]
    before = sorted(tmp.rglob("*"))
    result = invoke(train, *args, "--weights", "random") if "--weights" not in args else invoke(train, *args)
    assert result.exit_code == code
    assert only_line(result) == line.format(**folders)
    assert sorted(tmp.rglob("*")) == before


def test_class_without_a_readable_image(folders):
    (folders["good"] / "dogs" / "0.png").write_text("no")
    (folders["good"] / "dogs" / "1.png").write_bytes(b"")
    result = invoke(train, folders["good"], "-o", folders["tmp"] / "head.pt", *TINY)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == f"Error: DATA_DIR '{folders['good']}': no image of class 'dogs' could be read"
    assert f"Warning: skipped image '{folders['good']}/dogs/1.png': file is empty" in result.stderr
    assert not (folders["tmp"] / "head.pt").exists()


def test_failed_save_exits_1_and_leaves_nothing(folders, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(classify.torch, "save", disk_full)
    out = folders["tmp"] / "head.pt"
    result = invoke(train, folders["good"], "-o", out, *TINY, "-q")
    assert result.exit_code == 1
    assert only_line(result) == f"Error: output '{out}': cannot write (No space left on device)"
    assert not [p for p in folders["tmp"].iterdir() if p.name.startswith(".head.pt")] and not out.exists()


def _other_model_head(tiny_head, tmp):
    record = torch.load(tiny_head, weights_only=True)
    record["model"] = "resnet50"
    torch.save(record, tmp / "resnet_claim.pt")
    return tmp / "resnet_claim.pt"


PREDICT_CASES = [
    (["{tmp}/none.pt", "{image}"], 2, "Error: head '{tmp}/none.pt': file not found"),
    (["{tmp}/notes.txt", "{image}"], 2, "Error: head '{tmp}/notes.txt': not a head file from stylize-train ("),
    (["{tmp}/state.pt", "{image}"], 2, "Error: head '{tmp}/state.pt': not a head file from stylize-train"),
    (["{other}", "{image}"], 2,
     "Error: head '{other}': the head takes 512 features, resnet50 gives 2048 (a head for another model?)"),
    (["{head}", "{tmp}/none.png"], 2, "Error: image '{tmp}/none.png': file not found"),
    (["{head}", "{tmp}/empty_dir"], 2, f"Error: image folder '{{tmp}}/empty_dir': no image files ({EXTS})"),
    (["{head}", "{tmp}/notes.png"], 2, "Error: none of the 1 images could be read"),
    (["{head}", "{image}", "--top", "0"], 2, "Error: --top: must be >= 1 (got 0)"),
]


@pytest.mark.parametrize("args, code, line", PREDICT_CASES, ids=[c[2][7:45] for c in PREDICT_CASES])
def test_predict_bad_input_is_one_line(tiny_head, tiny, tmp_path, args, code, line):
    (tmp_path / "notes.txt").write_text("not a picture\n")
    (tmp_path / "notes.png").write_text("not a picture\n")
    (tmp_path / "empty_dir").mkdir()
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "state.pt")
    fill = {"tmp": tmp_path, "head": tiny_head, "image": tiny / "wave" / "000.png",
            "other": _other_model_head(tiny_head, tmp_path) if "{other}" in args else ""}
    result = invoke(predict, *[a.format(**fill) for a in args])
    assert result.exit_code == code
    last = result.stderr.strip().splitlines()[-1]  # an unreadable image is also warned about
    assert last.startswith(line.format(**fill)), result.stderr
    assert result.stdout == ""


def test_predict_quiet_prints_only_the_predictions(tiny_head, tiny):
    loud = invoke(predict, tiny_head, tiny / "wave", "--top", "2")
    quiet = invoke(predict, tiny_head, tiny / "wave", "--top", "2", "-q")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert quiet.stdout == loud.stdout
