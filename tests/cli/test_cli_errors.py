"""Bad input: one line on stderr naming the file or option, exit 2 (1 for a failed run), nothing written."""

import os

import pytest
from PIL import Image

from conftest import FAST, only_line


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


CASES = [
    # (arguments replacing content/style/output/options, exit code, exact error line)
    (["{tmp}/missing.jpg", "{style}"], 2, "Error: content image '{tmp}/missing.jpg': file not found"),
    (["{content}", "{tmp}/missing.jpg"], 2, "Error: style image '{tmp}/missing.jpg': file not found"),
    (["{tmp}/nothing", "{style}"], 2, "Error: content folder '{tmp}/nothing': no files in it"),
    (["{tmp}/notes.txt", "{style}"], 2, "Error: content image '{tmp}/notes.txt': not an image file Pillow can read"),
    (["{content}", "{tmp}/empty.png"], 2, "Error: style image '{tmp}/empty.png': file is empty"),
    (["{content}", "{style}", "--style-layers", "relu1_1,relu9_1"], 2,
     "Error: --style-layers: unknown layer 'relu9_1' for vgg19 (valid: conv1_1, relu1_1, conv1_2, relu1_2, pool1, "
     "conv2_1, relu2_1, conv2_2, relu2_2, pool2, conv3_1, relu3_1, conv3_2, relu3_2, conv3_3, relu3_3, conv3_4, "
     "relu3_4, pool3, conv4_1, relu4_1, conv4_2, relu4_2, conv4_3, relu4_3, conv4_4, relu4_4, pool4, conv5_1, "
     "relu5_1, conv5_2, relu5_2, conv5_3, relu5_3, conv5_4, relu5_4, pool5)"),
    (["{content}", "{style}", "--content-layer", "layer3"], 2, "Error: --content-layer: unknown layer 'layer3' for vgg19 (valid: conv1_1,"),
    (["{content}", "{style}", "--model", "alexnet"], 2,
     "Error: Invalid value for '--model': 'alexnet' is not one of 'vgg19', 'vgg16', 'resnet50'."),
    (["{content}", "{style}", "--size", "8"], 2, "Error: --size: 8 is out of range (16 to 16384)"),
    (["{content}", "{style}", "--iterations", "0"], 2, "Error: --iterations: 0 is out of range (1 to 100000)"),
    (["{content}", "{style}", "--style-blend", "1,2"], 2, "Error: --style-blend: 2 weights for 1 style image; give one per style image"),
    (["{content}", "{style}", "--device", "tpu"], 2, "Error: --device: 'tpu' is not one of auto, cpu, cuda, cuda:N, mps"),
    (["{content}", "{style}", "--weights", "{tmp}/notes.txt"], 2, "Error: --weights '{tmp}/notes.txt': not a PyTorch state_dict ("),
    (["{content}", "{style}", "--weights", "{tmp}/none.pth"], 2,
     "Error: --weights '{tmp}/none.pth': file not found (expected bundled, torchvision, random or a file)"),
    (["{content}", "{style}", "{style2}", "--masks", "{tmp}/mask.png"], 2,
     "Error: --masks: 1 mask for 2 style images; give one per style image, in the same order"),
    (["{content}", "{style}", "--masks", "{tmp}/none.png"], 2, "Error: mask '{tmp}/none.png': file not found"),
    (["{content}", "{style}", "--style-masks", "{tmp}/notes.txt"], 2,
     "Error: style mask '{tmp}/notes.txt': not an image file Pillow can read"),
    (["{content}", "{style}", "--masks", "{tmp}/square.png"], 2,
     "Error: --masks: mask '{tmp}/square.png' is 32x32 px but the image it covers, '{content}', is 48x32 px:"
     " a mask is resized to its image, so their shapes must match"),
    (["{content}", "{style}", "--style-masks", "{tmp}/mask.png"], 2,
     "Error: --style-masks: style mask '{tmp}/mask.png' is 48x32 px but the image it covers, '{style}', is 40x40 px:"
     " a mask is resized to its image, so their shapes must match"),
    (["{content}", "{style}", "--style-loss", "w2"], 2,
     "Error: Invalid value for '--style-loss': 'w2' is not one of 'gram', 'wasserstein'."),
    (["{content}", "{style}", "-o", "{tmp}/mask.png", "--masks", "{tmp}/mask.png"], 2,
     "Error: output '{tmp}/mask.png' is the input file '{tmp}/mask.png'; writing it would destroy the input"),
    (["{content}", "{style}", "-o", "{tmp}/out.xyz"], 2,
     "Error: output '{tmp}/out.xyz': cannot write '.xyz' files; use .png, .jpg, .webp or .tif"),
    (["{content}", "{style}", "-o", "{content}/deeper/out.png"], 2,
     "Error: output '{content}/deeper/out.png': '{content}' is not a folder"),
    (["{content}", "{style}", "--plot", "{tmp}/losses.jpg"], 2,
     "Error: --plot: '{tmp}/losses.jpg': the plot is written as .png, .svg, .pdf; name it so"),
    (["{content}", "{style}", "--plot", "{content}/losses.png"], 2,
     "Error: output '{content}/losses.png': '{content}' is not a folder"),
    (["{content}", "{style}", "--plot", "{tmp}/mask.png", "--masks", "{tmp}/mask.png"], 2,
     "Error: --plot file '{tmp}/mask.png' is the input file '{tmp}/mask.png'; writing it would destroy the input"),
    (["{content}", "{style}", "--preview-port", "70000"], 2,
     "Error: Invalid value for '--preview-port': 70000 is not in the range 0<=x<=65535."),
]


@pytest.mark.parametrize("args, code, line", CASES, ids=[c[2][7:40] for c in CASES])
def test_bad_input_is_one_line(cli, images, args, code, line):
    tmp = images["content"].parent
    (tmp / "notes.txt").write_text("not a picture\n")
    (tmp / "empty.png").write_bytes(b"")
    (tmp / "nothing").mkdir()
    Image.new("L", (48, 32), 255).save(tmp / "mask.png")  # the content's shape
    Image.new("L", (32, 32), 255).save(tmp / "square.png")
    fill = {"tmp": tmp, "content": images["content"], "style": images["style"], "style2": images["style2"]}
    args = [a.format(**fill) for a in args]
    if not any(a == "-o" for a in args):
        args += ["-o", tmp / "out.png"]
    before = _files(tmp)
    result = cli(*FAST, *args)  # the case's options come last and win
    assert result.exit_code == code
    assert only_line(result).startswith(line.format(**fill))
    assert _files(tmp) == before  # nothing written, no temporary left


def test_truncated_image(cli, images, tmp_path):
    data = images["content"].read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    result = cli(tmp_path / "cut.png", images["style"], "-o", tmp_path / "o.png", *FAST)
    assert result.exit_code == 2
    assert only_line(result).startswith(f"Error: content image '{tmp_path}/cut.png': image data is truncated or corrupt (")


def test_unwritable_output_folder(cli, images, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() == 0:  # root writes anywhere: make the folder read-only as a user sees it
        import stylize.media.imageio

        monkeypatch.setattr(stylize.media.imageio.os, "access", lambda path, mode: str(path) != str(locked))
    result = cli(images["content"], images["style"], "-o", locked / "o.png", *FAST)
    assert result.exit_code == 2
    assert only_line(result) == f"Error: output '{locked}/o.png': folder '{locked}' is not writable"


def test_missing_style_argument_is_a_usage_error(cli, images):
    result = cli(images["content"])
    assert result.exit_code == 2
    assert only_line(result) == "Error: Missing argument 'STYLE...'."


def test_runtime_failure_exits_1(cli, images, tmp_path, monkeypatch):
    import stylize.media.imageio as io

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io.Image.Image, "save", disk_full)
    out = tmp_path / "o.png"
    result = cli(images["content"], images["style"], "-o", out, *FAST)
    assert result.exit_code == 1
    assert only_line(result) == f"Error: output '{out}': cannot write (No space left on device)"
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("stop, code", [(KeyboardInterrupt, 130), ("terminated", 143)])
def test_a_signal_before_the_run_starts_exits_with_its_own_code(cli, images, tmp_path, monkeypatch, stop, code):
    import stylize.cli.common
    import stylize.cli.main

    def interrupted(*args):
        raise stylize.cli.common.Terminated if stop == "terminated" else stop

    monkeypatch.setattr(stylize.cli.main, "run_single", interrupted)
    result = cli(images["content"], images["style"], "-o", tmp_path / "o.png")
    assert result.exit_code == code
    assert result.stderr.strip() == "Interrupted: nothing was written."


def test_a_style_layer_listed_twice(cli, images, tmp_path):
    result = cli(images["content"], images["style"], "-o", tmp_path / "o.png", *FAST, "--style-layers", "relu1_1,relu1_1")
    assert result.exit_code == 2
    assert only_line(result) == "Error: --style-layers: 'relu1_1' is listed twice; give it a weight instead ('relu1_1:2')"


@pytest.mark.parametrize("args, line", [
    (["--style-scale", "0.1", "--size", "64"],
     "Error: --style-scale: 0.1 gives a 6 px style image at --size 64; the style image must be 16 to 16384 px"
     " (--style-scale 0.25 to 256 at this size)"),
    (["--history", "0"], "Error: --history: 0 is out of range (1 to 1000)"),
])
def test_option_messages_name_the_option_and_the_way_out(cli, images, tmp_path, args, line):
    result = cli(images["content"], images["style"], "-o", tmp_path / "o.png", *FAST, *args)
    assert result.exit_code == 2
    assert only_line(result) == line


def test_a_file_that_is_not_from_torch_save(cli, images, tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(bytes(range(256)) * 8)
    result = cli(images["content"], images["style"], "-o", tmp_path / "o.png", *FAST, "--weights", junk)
    assert result.exit_code == 2
    assert only_line(result) == f"Error: --weights '{junk}': not a PyTorch state_dict (not a file written by torch.save)"
