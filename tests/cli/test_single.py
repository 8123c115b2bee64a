"""The `stylize` command for one image: outputs, settings, snapshots, Ctrl-C, checks before torch."""

import json
import subprocess
import sys

import pytest
from PIL import Image

import stylize.cli.display
import stylize.core.engine
import stylize.core.styles
from stylize.core.objective import Objective

from conftest import FAST, heic, only_line, without_heif_plugin


def _settings(path):
    return json.loads(Image.open(path).text["stylize"])


def test_png_settings_record_what_ran(cli, images, tmp_path):
    out = tmp_path / "out.png"
    assert cli(images["content"], images["style"], "-o", out, *FAST, "--precision", "fp32").exit_code == 0
    settings = _settings(out)
    assert settings["config"]["device"] == "cpu" and settings["config"]["precision"] == "fp32"
    assert settings["config"]["weights"] == "random" and settings["steps"] == 2
    assert set(settings["losses"]) == {"content", "style", "tv", "total"}
    auto = tmp_path / "auto.png"
    assert cli(images["content"], images["style"], "-o", auto, *FAST).exit_code == 0
    assert _settings(auto)["config"]["precision"] in ("fp32", "bf16")  # resolved, never "auto"


def test_save_every_snapshots_carry_the_settings(cli, images, tmp_path):
    out = tmp_path / "out.png"
    assert cli(images["content"], images["style"], "-o", out, *FAST, "--iterations", "4", "--save-every", "2").exit_code == 0
    assert sorted(p.name for p in tmp_path.glob("out*.png")) == ["out.png", "out_0002.png"]
    snapshot = _settings(tmp_path / "out_0002.png")
    assert snapshot["steps"] == 2 and snapshot["config"]["save_every"] == 2


def test_a_log_gets_a_line_per_finished_scale(cli, images, tmp_path):
    # CliRunner's stderr is no terminal, as in a job's log: no bar, a plain line per scale
    out = tmp_path / "out.png"
    result = cli(images["content"], images["style"], "-o", out, "--weights", "random", "--size", "64",
                 "--min-size", "32", "--coarse-iterations", "2", "--iterations", "3")
    lines = result.stderr.strip().splitlines()
    assert [line.split(" done")[0] for line in lines] == ["out.png: scale 1/2 (32 px)", "out.png: scale 2/2 (64 px)"]
    # the coarsest scale runs twice --coarse-iterations (plan.schedule)
    assert " done at iteration 4, 0:0" in lines[0] and " done at iteration 7, 0:0" in lines[1]
    total = float(lines[1].rsplit("total ", 1)[1])
    assert f"total {total:.4g}" in result.stdout  # the summary's own final total
    assert "\r" not in result.stderr and "\x1b" not in result.stderr


@pytest.mark.parametrize("which", ["content", "style"])
def test_an_output_that_is_an_input_is_refused(cli, images, tmp_path, which):
    target = images[which]
    before = target.read_bytes()
    spelled = tmp_path / "sub" / ".." / target.name  # the same file, named another way
    (tmp_path / "sub").mkdir()
    result = cli(images["content"], images["style"], "-o", spelled, *FAST)
    assert result.exit_code == 2
    assert only_line(result) == (f"Error: output '{spelled}' is the input file '{images[which]}';"
                                 " writing it would destroy the input")
    assert target.read_bytes() == before


def test_an_output_differing_only_in_case_is_the_input_where_the_disk_folds_case(cli, images, tmp_path,
                                                                                   monkeypatch):
    # macOS's and Windows' disks: os.path.samefile answers from the file system (file IDs on
    # Windows); here a case-insensitive disk is played by folding names before the real call
    import os
    from pathlib import Path

    real = os.path.samefile
    folded = lambda p: Path(p).with_name(Path(p).name.lower())  # noqa: E731
    monkeypatch.setattr(os.path, "samefile", lambda a, b: real(folded(a), folded(b)))
    shouted = images["content"].with_name(images["content"].name.upper())
    result = cli(images["content"], images["style"], "-o", shouted, *FAST)
    assert result.exit_code == 2
    assert only_line(result) == (f"Error: output '{shouted}' is the input file '{images['content']}';"
                                 " writing it would destroy the input")


def test_the_command_runs_from_a_thread_that_cannot_set_signal_handlers(cli, images, tmp_path):
    # only the main thread may set a SIGTERM handler (a GUI or a test runner calls from others)
    import threading

    results = []
    worker = threading.Thread(target=lambda: results.append(
        cli(images["content"], images["style"], "-o", tmp_path / "out.png", *FAST)))
    worker.start()
    worker.join()
    assert results[0].exit_code == 0, results[0].stderr
    assert (tmp_path / "out.png").is_file()


def test_an_output_in_missing_folders_makes_them_once_there_is_a_result(cli, images, tmp_path):
    out = tmp_path / "new" / "deeper" / "out.png"  # as a batch's -o new/ makes its folder
    assert cli(images["content"], images["style"], "-o", out, *FAST).exit_code == 0
    assert Image.open(out).size == (32, 21)
    failed = cli(images["content"], tmp_path / "missing.jpg", "-o", tmp_path / "other" / "out.png", *FAST)
    assert failed.exit_code == 2 and not (tmp_path / "other").exists()


def test_an_existing_folder_as_output(cli, images, tmp_path):
    result = cli(images["content"], images["style"], "-o", tmp_path, *FAST)
    assert result.exit_code == 2
    assert only_line(result) == f"Error: output '{tmp_path}': is a folder; name a file in it, e.g. '{tmp_path}/out.png'"


def _interrupt_at(monkeypatch, step):
    update = stylize.cli.display.ProgressBar.update

    def interrupting(self, progress):
        update(self, progress)
        if progress.step == step:
            raise KeyboardInterrupt

    monkeypatch.setattr(stylize.cli.display.ProgressBar, "update", interrupting)


def test_ctrl_c_saves_the_image_so_far_to_a_new_output(cli, images, tmp_path, monkeypatch):
    _interrupt_at(monkeypatch, 3)
    out = tmp_path / "out.png"
    result = cli(images["content"], images["style"], "-o", out, *FAST, "--iterations", "10", "--tolerance", "0")
    assert result.exit_code == 130
    assert only_line(result) == f"Interrupted at iteration 3: saved the current image to {out}"
    assert _settings(out)["interrupted_at"] == 3 and Image.open(out).size == (32, 21)


def test_ctrl_c_keeps_a_finished_output_and_saves_beside_it(cli, images, tmp_path, monkeypatch):
    out = tmp_path / "out.png"
    Image.new("RGB", (8, 8), "red").save(out)
    before = out.read_bytes()
    _interrupt_at(monkeypatch, 3)
    result = cli(images["content"], images["style"], "-o", out, *FAST, "--iterations", "10", "--tolerance", "0")
    assert result.exit_code == 130
    assert only_line(result) == (f"Interrupted at iteration 3: kept the existing {out};"
                                 f" saved the current image to {tmp_path}/out_0003.png")
    assert out.read_bytes() == before
    assert _settings(tmp_path / "out_0003.png")["interrupted_at"] == 3


def test_ctrl_c_before_the_first_iteration_writes_nothing(cli, images, tmp_path, monkeypatch):
    def stopped(self, image):
        raise KeyboardInterrupt

    monkeypatch.setattr(Objective, "forward", stopped)  # inside the first step: the image is still the photo
    result = cli(images["content"], images["style"], "-o", tmp_path / "out.png", *FAST)
    assert result.exit_code == 130
    assert result.stderr.strip() == "Interrupted: nothing was written."
    assert not (tmp_path / "out.png").exists()


def test_the_summary_shows_the_losses_of_the_saved_image(cli, images, tmp_path, monkeypatch):
    reports = []
    update = stylize.cli.display.ProgressBar.update
    monkeypatch.setattr(stylize.cli.display.ProgressBar, "update", lambda self, p: reports.append(p) or update(self, p))
    out = tmp_path / "out.png"
    result = cli(images["content"], images["style"], "-o", out, "--weights", "random", "--size", "32",
                 "--iterations", "3")
    assert result.exit_code == 0
    last = reports[-1]
    assert last.done and last.step == last.total
    assert result.stdout.strip().endswith(stylize.cli.display.format_losses(last.losses))
    assert _settings(out)["losses"] == last.losses


@pytest.mark.parametrize("args, line", [
    (["{tmp}/missing.jpg", "{style}"], "Error: content image '{tmp}/missing.jpg': file not found"),
    (["{content}", "{style}", "--size", "0"], "Error: --size: 0 is out of range (16 to 16384)"),
    (["{content}", "{style}", "--style-layers", "relu9_1"], "Error: --style-layers: unknown layer 'relu9_1' for vgg19"),
    (["{content}", "{style}", "-o", "{content}/o.png"], "Error: output '{content}/o.png': '{content}' is not a folder"),
    (["{content}", "{style}", "--weights", "{tmp}/none.pth"], "Error: --weights '{tmp}/none.pth': file not found"),
    (["{content}", "{style}", "--device", "tpu"], "Error: --device: 'tpu' is not one of auto, cpu, cuda, cuda:N, mps"),
    (["{content}", "{style}", "--masks", "{tmp}/none.png"], "Error: mask '{tmp}/none.png': file not found"),
    (["{content}", "{style}", "--masks", "{style},{style}"], "Error: --masks: 2 masks for 1 style image; give one per"),
])
def test_bad_input_fails_before_torch_is_imported(images, tmp_path, args, line):
    fill = {"tmp": tmp_path, "content": images["content"], "style": images["style"]}
    argv = ["stylize", *(a.format(**fill) for a in args)]
    code = ("import sys; from stylize.cli.main import main; sys.argv = " + repr(argv) +
            "\ntry:\n    main()\nexcept SystemExit as e:\n    print(e.code)\nprint('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.stdout.split() == ["2", "False"], done.stderr
    assert done.stderr.strip().startswith(line.format(**fill))


def test_init_from_a_file_starts_there(cli, images, tmp_path):
    start = tmp_path / "start.png"
    Image.new("RGB", (64, 64), (10, 200, 30)).save(start)
    out = tmp_path / "out.png"
    # One tiny Adam step barely moves the image: the output is the --init picture, not the photo.
    args = ["--weights", "random", "--size", "32", "--iterations", "1", "--optimizer", "adam", "--lr", "1e-4"]
    assert cli(images["content"], images["style"], "-o", out, *args, "--init", start).exit_code == 0
    pixels = Image.open(out).get_flattened_data()
    assert all(abs(r - 10) <= 2 and abs(g - 200) <= 2 and abs(b - 30) <= 2 for r, g, b in pixels)


def test_style_scale_sizes_the_style_image(cli, images, tmp_path, monkeypatch):
    seen = []
    moments = stylize.core.styles.style_moments
    monkeypatch.setattr(stylize.core.styles, "style_moments",
                        lambda ex, style, *rest: seen.append(max(style.shape[-2:])) or moments(ex, style, *rest))
    assert cli(images["content"], images["style"], "-o", tmp_path / "o.png", *FAST, "--style-scale", "1.5").exit_code == 0
    assert seen == [48]  # 1.5 x the 32 px output


def test_layer_weights_reach_the_objective(cli, images, tmp_path, monkeypatch):
    weights = []
    init = Objective.__init__

    def recording(self, *args, **kwargs):
        init(self, *args, **kwargs)
        weights.append(self.layer_weights)

    monkeypatch.setattr(Objective, "__init__", recording)
    out = tmp_path / "o.png"
    assert cli(images["content"], images["style"], "-o", out, *FAST, "--style-layers", "relu1_1:3,relu2_1").exit_code == 0
    assert weights == [[0.75, 0.25]]
    assert _settings(out)["config"]["style_layer_weights"] == [3.0, 1.0]


def test_resnet50_runs_resnet50(cli, images, tmp_path, monkeypatch):
    from torchvision.models.resnet import Bottleneck

    calls = []
    build = stylize.core.engine.build_extractor

    def recording(*args, **kwargs):
        extractor = build(*args, **kwargs)
        for m in extractor.modules():
            if isinstance(m, Bottleneck):
                m.register_forward_hook(lambda *a: calls.append(1))
        return extractor

    monkeypatch.setattr(stylize.core.engine, "build_extractor", recording)
    out = tmp_path / "o.png"
    assert cli(images["content"], images["style"], "-o", out, *FAST, "--model", "resnet50").exit_code == 0
    assert calls, "no ResNet bottleneck block ran"
    config = _settings(out)["config"]
    assert config["model"] == "resnet50" and config["content_layer"] == "layer3"
    assert config["style_layers"] == ["relu", "layer1", "layer2", "layer3"]


def test_masks_and_the_style_statistic_are_recorded(cli, images, tmp_path):
    mask = tmp_path / "left.png"
    Image.new("L", (48, 32), 255).save(mask)
    out = tmp_path / "out.png"
    args = [*FAST, "--style-loss", "wasserstein", "--masks", f"{mask},{mask}", "--style-masks", f",{images['style']}"]
    result = cli(images["content"], images["style"], images["style2"], "-o", out, *args)
    assert result.exit_code == 0, result.stderr
    settings = _settings(out)
    assert settings["masks"] == [str(mask), str(mask)] and settings["style_masks"] == [None, str(images["style"])]
    assert settings["config"]["style_loss"] == "wasserstein"


def test_a_phone_photo_in_heic_is_stylized_as_a_photo(cli, images, tmp_path):

    from conftest import make_content

    photo = heic(tmp_path / "IMG_0001.heic", make_content((48, 32)))
    out = tmp_path / "out.jpg"
    result = cli(photo, images["style"], "-o", out, *FAST)
    assert result.exit_code == 0, result.stderr
    assert Image.open(out).size == (32, 21)
    folder = tmp_path / "photos"  # in a folder too
    folder.mkdir()
    photo.rename(folder / "IMG_0001.heic")
    result = cli(folder, images["style"], "-o", tmp_path / "painted", *FAST)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "painted" / "IMG_0001__style.jpg").exists()


def test_a_heic_photo_without_its_plugin_is_one_error_line(cli, images, tmp_path, monkeypatch):

    from conftest import make_content

    photo = heic(tmp_path / "IMG_0001.heic", make_content())
    without_heif_plugin(monkeypatch)
    result = cli(photo, images["style"], "-o", tmp_path / "out.jpg", *FAST)
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"Error: content image '{photo}': a HEIC/HEIF photo needs the pillow-heif"
                                     " package: pip install pillow-heif")
