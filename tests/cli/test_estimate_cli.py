"""`stylize --estimate`: a line per scale (whole or tiled, history, memory, time) and a verdict,
for one image, a folder (test_batch_cli.py), a masked run and a video."""

import re

import stylize.core.engine

from conftest import make_clip


def test_estimate_prints_the_plan_and_runs_nothing(cli, images, tmp_path):
    result = cli(images["content"], images["style"], "-o", tmp_path / "o.png", "--estimate", "--size", "512")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith(f"{images['content']}: 512x341 px, vgg19 ") and lines[0].endswith("less 10%):")
    assert [line.split()[0] for line in lines[1:4]] == ["128x85", "256x171", "512x341"]
    assert all(" whole " in line and re.search(r"\d+:\d\d$", line) for line in lines[1:4])
    assert re.match(r"peak about .* of memory: fits; about \d+:\d\d of optimization in all \(the speed measured on"
                    r" this device: a 256 px evaluation in \d+\.\d\d s, 1024 px in \d+\.\d\d s\)$", lines[4])
    assert not (tmp_path / "o.png").exists()


def test_estimate_a_tiled_plan(cli, images):
    result = cli(images["content"], images["style"], "--estimate", "--size", "2048", "--max-memory", "4GiB")
    assert result.exit_code == 0, result.stderr
    last = result.stdout.strip().splitlines()[-2]
    assert last.split()[0] == "2048x1365" and re.search(r"\d+ tiles of \d+x\d+ px \(\+48 px halo\)", last)
    assert "allowed (--max-memory)" in result.stdout.splitlines()[0]


def test_estimate_says_plainly_when_nothing_fits(cli, images):
    result = cli(images["content"], images["style"], "--estimate", "--size", "8192", "--max-memory", "1GiB")
    assert result.exit_code == 0
    assert ": does not fit; lower --size, raise --max-memory or pass --force; about " in result.stdout


def test_estimate_a_video_plans_the_first_frame_and_the_later_ones(cli, images, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=5, size=(64, 48), audio=0)
    result = cli(clip, images["style"], "--estimate", "--size", "256")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith(f"{clip}: 5 frames of 256x192 px, vgg19 ") and lines[0].endswith("less 10%):")
    assert lines[1] == "  the first frame:"
    assert [line.split()[0] for line in lines[2:4]] == ["128x96", "256x192"]
    assert lines[4] == "  each of the 4 later frames, from the previous one warped:"
    assert lines[5].split()[:3] == ["256x192", "px", "30"]  # --frame-iterations, at the output size only
    assert re.match(r"peak about .* of memory: fits; about \d+:\d\d of optimization in all \(\d+:\d\d for the"
                    r" first frame, \d+:\d\d for each later one\)", lines[6])
    assert not list(tmp_path.glob("*.mp4.frames"))
    alone = cli(clip, images["style"], "--estimate", "--size", "256", "--temporal-weight", "0").stdout.splitlines()
    assert alone[1] == "  the first frame, and every other one (no temporal link):" and len(alone) == 5


def test_estimate_times_a_masked_run_with_its_regions(cli, images, tmp_path, monkeypatch):
    timed = []
    real = stylize.core.engine.Stylizer.speed
    monkeypatch.setattr(stylize.core.engine.Stylizer, "speed", lambda self, masks=0: timed.append(masks) or real(self, masks))
    result = cli(images["content"], images["style"], images["style2"], "--masks", f"{images['style']},{images['style']}",
                 "--estimate", "--size", "64")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"{images['content']}: 64x43 px, 2 regional styles, vgg19 ")
    assert timed == [2]  # the speed is measured with two regions' statistics, as the run computes them
