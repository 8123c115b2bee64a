"""The one progress display (cli/display.py): bars on a terminal, plain lines in a log, -q, for every kind of job."""

import io

import pytest

import stylize.cli.display
from stylize.cli.display import Display, clock, progress_text

from conftest import make_clip

FAST = ["--weights", "random", "--size", "32", "--iterations", "2", "--coarse-iterations", "2", "--min-size", "16"]


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def terminal(monkeypatch):
    """The command's stderr taken for a terminal: its bars drawn as a user would see them."""
    monkeypatch.setattr(stylize.cli.display, "on_terminal", lambda stream: True)


def test_on_a_terminal_lines_go_above_an_outer_and_an_inner_bar():
    stream = Terminal()
    display = Display(quiet=False, stream=stream)
    assert display.terminal and not display.log
    display.open("outer", 3, "images", "img", rate=True)
    display.open("inner", 50, "out.png", "it")
    assert (display.bars["outer"].pos, display.bars["inner"].pos) == (0, -1)  # tqdm: position 1 below the outer
    display.advance("inner", 20, "256px ETA 0:10", refresh=True)
    display.say("failed: broken.jpg: not an image", always=True)
    display.say("a line of progress")
    display.close()
    text = stream.getvalue()
    assert "out.png:  40%|" in text and "20/50 [" in text and "256px ETA 0:10" in text
    assert "failed: broken.jpg: not an image\n" in text and "a line of progress\n" in text
    assert display.bars == {}


def test_in_a_log_there_are_no_bars_only_lines():
    stream = io.StringIO()
    display = Display(quiet=False, stream=stream)
    assert display.log and not display.terminal
    display.open("outer", 3, "frames", "frame")
    display.advance("outer", 1, "last 2.0 s")
    display.say("clip.mp4: frame 1/3 2.0 s, ETA 0:04")
    display.close()
    assert display.bars == {} and stream.getvalue() == "clip.mp4: frame 1/3 2.0 s, ETA 0:04\n"


@pytest.mark.parametrize("tty", [False, True])
def test_quiet_says_only_what_must_be_seen(tty):
    stream = Terminal() if tty else io.StringIO()
    display = Display(quiet=True, stream=stream)
    assert not display.terminal and not display.log
    display.open("outer", 2, "images", "img")
    display.say("[1/2] done: out/a.png (1.0 s)")
    display.say("failed: b.png: not an image", always=True)
    display.notices(["the style barely changed"], "out/a.png: ")
    display.close()
    assert stream.getvalue() == "failed: b.png: not an image\nNote: out/a.png: the style barely changed\n"


def test_one_image_draws_its_iterations_on_a_terminal(cli, images, tmp_path, terminal):
    out = tmp_path / "out.png"
    result = cli(images["content"], images["style"], "-o", out, *FAST)
    assert result.exit_code == 0, result.stderr
    assert "out.png: 100%|" in result.stderr and "6/6 [" in result.stderr and "32px scale 2/2" in result.stderr
    assert "scale 1/2 (16 px) done" not in result.stderr  # the log's lines: the bar says it on a terminal
    assert result.stdout.startswith(f"{out}: 32x")


def test_one_image_logs_a_line_per_scale(cli, images, tmp_path):
    result = cli(images["content"], images["style"], "-o", tmp_path / "out.png", *FAST)
    assert result.exit_code == 0, result.stderr
    assert "out.png: scale 1/2 (16 px) done at iteration 4, " in result.stderr and "%|" not in result.stderr


def test_a_folder_draws_images_above_iterations(cli, mixed_photos, images, tmp_path, terminal):
    result = cli(mixed_photos, images["style"], "-o", tmp_path / "out", *FAST)
    assert result.exit_code == 1  # broken.jpg
    assert "images: 100%|" in result.stderr and "4/4 [" in result.stderr
    assert "p0__style.jpg: 100%|" in result.stderr and "\x1b[A" in result.stderr  # its own bar, a line below
    assert "failed: " in result.stderr and "broken.jpg" in result.stderr
    assert "[1/4]" not in result.stderr  # the log's lines


def test_a_clip_draws_frames_above_each_frames_iterations(cli, images, tmp_path, terminal):
    clip = make_clip(tmp_path / "clip.mp4", frames=3, audio=0)
    result = cli(clip, images["style"], "-o", tmp_path / "painted.mp4", *FAST, "--frame-iterations", "2")
    assert result.exit_code == 0, result.stderr
    assert "frame 1: 100%|" in result.stderr and "frame 3: 100%|" in result.stderr  # each frame's iterations
    assert "painted.mp4: 100%|" in result.stderr and "3/3 [" in result.stderr and "ETA 0:00" in result.stderr
    assert "frame 3/3" not in result.stderr  # the log's lines


def test_the_status_text_and_clock():
    assert clock(65) == "1:05" and clock(3725) == "1:02:05"

    class P:
        size, scale, tile, eta, done = 256, (2, 3), (5, 24), 750, False
        losses = {"total": 2.41, "content": 1.66, "style": 0.73}

    assert progress_text(P()) == "256px scale 2/3 tile 5/24 ETA 12:30 total 2.41 content 1.66 style 0.73"
