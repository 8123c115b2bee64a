"""Batch mode: folders in, one network, failures isolated, resumable, shardable."""

import json
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

import stylize.engine
from conftest import FAST, make_content, make_style, spawned
from stylize import StylizeConfig
from stylize.batch import batch, image_files, plan
from stylize.grid import LABEL_PX


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, size in enumerate([(48, 32), (32, 48), (40, 40)]):
        make_content(size).save(folder / f"p{i}.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a JPEG")
    return folder


@pytest.fixture
def styles(tmp_path):
    folder = tmp_path / "styles"
    folder.mkdir()
    make_style().save(folder / "red.png")
    make_style(colours=((250, 250, 250), (10, 120, 10))).save(folder / "green.png")
    return folder


def _outputs(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_bad_file_is_reported_and_the_rest_is_done(cli, photos, styles, tmp_path):
    out = tmp_path / "out"
    result = cli(photos, styles / "red.png", "-o", out, *FAST)
    assert result.exit_code == 1
    assert _outputs(out) == ["p0__red.jpg", "p1__red.jpg", "p2__red.jpg"]
    assert f"failed: content image '{photos}/broken.jpg': image data is truncated or corrupt (" in result.stderr
    assert "3 done, 0 skipped, 1 failed" in result.stdout + result.stderr
    assert Image.open(out / "p1__red.jpg").size == (21, 32)


def test_skip_existing_redoes_nothing(cli, photos, styles, tmp_path):
    out = tmp_path / "out"
    cli(photos, styles / "red.png", "-o", out, *FAST)
    stamps = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.iterdir()}
    result = cli(photos, styles / "red.png", "-o", out, *FAST, "--skip-existing")
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.iterdir()} == stamps
    assert "0 done, 3 skipped, 1 failed" in result.stdout + result.stderr


def test_shards_cover_every_item_once(cli, photos, styles, tmp_path):
    (photos / "broken.jpg").unlink()
    done = []
    for k in (1, 2):
        out = tmp_path / f"shard{k}"
        assert cli(photos, styles, "--each-style", "-o", out, *FAST, "--shard", f"{k}/2").exit_code == 0
        done += _outputs(out)
    assert sorted(done) == sorted(f"p{i}__{s}.jpg" for i in range(3) for s in ("red", "green"))


def test_each_style_is_a_cross_product_and_blend_is_one_per_content(cli, photos, styles, tmp_path):
    (photos / "broken.jpg").unlink()
    assert cli(photos, styles, "--each-style", "-o", tmp_path / "each", *FAST).exit_code == 0
    assert len(_outputs(tmp_path / "each")) == 3 * 2
    assert cli(photos, styles, "-o", tmp_path / "blend", *FAST, "--format", "png").exit_code == 0
    assert _outputs(tmp_path / "blend") == [f"p{i}__green+red.png" for i in range(3)]


def test_network_and_style_targets_are_computed_once(cli, photos, styles, tmp_path, monkeypatch):
    (photos / "broken.jpg").unlink()
    calls = {"build": 0, "grams": 0}
    for name, key in (("build_extractor", "build"), ("style_grams", "grams")):
        original = getattr(stylize.engine, name)

        def counted(*args, _original=original, _key=key, **kwargs):
            calls[_key] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(stylize.engine, name, counted)
    assert cli(photos, styles, "--each-style", "-o", tmp_path / "out", *FAST).exit_code == 0
    assert calls == {"build": 1, "grams": 2}  # one network, one target per style, for 6 outputs


def test_log_lines_match_the_outputs(cli, photos, styles, tmp_path):
    log = tmp_path / "run.jsonl"
    cli(photos, styles / "red.png", "-o", tmp_path / "out", *FAST, "--log", log)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [l["status"] for l in lines] == ["failed", "done", "done", "done"]
    for line in lines[1:]:
        assert (tmp_path / "out" / line["output"].split("/")[-1]).exists()
        assert line["losses"]["total"] > 0 and line["seconds"] > 0
    assert "broken.jpg': image data is truncated or corrupt" in lines[0]["error"]


def test_grid_has_a_cell_per_result_plus_headers(cli, photos, styles, tmp_path):
    sheet = tmp_path / "sheet.png"
    cli(photos, styles, "--each-style", "-o", tmp_path / "out", *FAST, "--grid", sheet)
    assert Image.open(sheet).size == (3 * 160, 5 * (160 + LABEL_PX))  # 2 styles + labels, 4 contents + header


def test_grid_for_a_single_run(cli, photos, styles, tmp_path):
    sheet = tmp_path / "sheet.jpg"
    result = cli(photos / "p0.png", styles / "red.png", "-o", tmp_path / "o.png", *FAST, "--grid", sheet)
    assert result.exit_code == 0
    assert Image.open(sheet).size == (2 * 160, 2 * (160 + LABEL_PX))


@pytest.mark.parametrize("spec", ["3/2", "0/2", "x"])
def test_bad_shard(cli, photos, styles, tmp_path, spec):
    result = cli(photos, styles, "-o", tmp_path / "out", *FAST, "--shard", spec)
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(f"Error: --shard: '{spec}'")


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_batch_leaves_no_partial_file(photos, styles, tmp_path, sig, code):
    (photos / "broken.jpg").unlink()
    out = tmp_path / "out"
    args = [sys.executable, "-m", "stylize", photos, styles / "red.png", "-o", out, "--weights", "random",
            "--size", "32", "--iterations", "100000", "--tolerance", "0", "-q"]
    with spawned(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        deadline = time.time() + 60
        while not out.exists() and time.time() < deadline:  # made once the network is loaded
            time.sleep(0.05)
        time.sleep(1)  # into the first image's iterations
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    assert _outputs(out) == []  # the image in progress is dropped, not half-written
    assert "0 done, 0 skipped, 0 failed (interrupted)" in stdout + stderr


@pytest.mark.parametrize("where", ["progress", "item"])
def test_ctrl_c_anywhere_in_a_batch_keeps_what_is_done(photos, styles, tmp_path, where):
    # The signal lands wherever the process is: in an image's steps or in the bookkeeping
    # after an image (log line, outer bar). Either way: a summary, no half-written file.
    (photos / "broken.jpg").unlink()
    items = plan(image_files(photos), [styles / "red.png"], tmp_path / "out", ext="png")
    config = StylizeConfig(size=32, iterations=2, weights="random")
    seen = []

    def on_item(result):
        seen.append(result)
        if where == "item":
            raise KeyboardInterrupt

    def on_progress(item, progress):
        if where == "progress" and seen:
            raise KeyboardInterrupt

    summary = batch(items, config, on_item=on_item, on_progress=on_progress)
    assert summary.interrupted and summary.line() == "1 done, 0 skipped, 0 failed (interrupted)"
    assert _outputs(tmp_path / "out") == [items[0].output.name]
