"""`stylize --estimate`: a line per scale (whole or tiled, history, memory, time) and a verdict."""

import re


def test_estimate_prints_the_plan_and_runs_nothing(cli, images, tmp_path):
    result = cli(images["content"], images["style"], "-o", tmp_path / "o.png", "--estimate", "--size", "512")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith(f"{images['content']}: 512x341 px, vgg19 ") and lines[0].endswith("less 10%):")
    assert [line.split()[0] for line in lines[1:4]] == ["128x85", "256x171", "512x341"]
    assert all(" whole " in line and re.search(r"\d+:\d\d$", line) for line in lines[1:4])
    assert re.match(r"peak about .* of memory: fits; about \d+:\d\d of optimization in all \(the speed measured on"
                    r" this device: a 256 px evaluation in \d+\.\d\d s\)$", lines[4])
    assert not (tmp_path / "o.png").exists()


def test_estimate_a_tiled_plan(cli, images):
    result = cli(images["content"], images["style"], "--estimate", "--size", "2048", "--max-memory", "4GiB")
    assert result.exit_code == 0, result.stderr
    last = result.stdout.strip().splitlines()[-2]
    assert last.split()[0] == "2048x1365" and re.search(r"\d+ tiles of \d+ px \(\+48 px halo\)", last)
    assert "allowed (--max-memory)" in result.stdout.splitlines()[0]


def test_estimate_says_plainly_when_nothing_fits(cli, images):
    result = cli(images["content"], images["style"], "--estimate", "--size", "8192", "--max-memory", "1GiB")
    assert result.exit_code == 0
    assert ": does not fit; lower --size, raise --max-memory or pass --force; about " in result.stdout
