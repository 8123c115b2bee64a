"""The `stylize` command on folders: checks, quiet and log-friendly output, snapshots, settings, shards, grid."""

import json
import shutil
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

import stylize.core.engine
import stylize.core.styles
from stylize.media.grid import LABEL_PX

from conftest import FAST, HANG_GUARD, bomb_png, make_content, make_style, only_line, outputs, spawned

QUIET_LESS = ["--weights", "random", "--size", "32", "--iterations", "2"]  # FAST without -q


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, size in enumerate([(48, 32), (32, 48)]):
        make_content(size).save(folder / f"p{i}.png")
    return folder


@pytest.fixture
def style(tmp_path):
    path = tmp_path / "red.png"
    make_style().save(path)
    return path


def _names(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_quiet_prints_nothing_on_success(cli, photos, style, tmp_path):
    result = cli(photos, style, "-o", tmp_path / "out", *FAST)
    assert result.exit_code == 0
    assert (result.stdout, result.stderr) == ("", "")
    assert _names(tmp_path / "out") == ["p0__red.jpg", "p1__red.jpg"]


def test_the_systems_litter_in_a_folder_is_not_a_failed_image(cli, photos, style, tmp_path):
    (photos / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0 a Windows thumbnail cache")
    (photos / "desktop.ini").write_text("[.ShellClassInfo]\n")
    (photos / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    result = cli(photos, style, "-o", tmp_path / "out", *FAST)
    assert result.exit_code == 0, result.stderr
    assert outputs(tmp_path / "out") == sorted(f"{p.stem}__red.jpg" for p in photos.glob("*.png"))


def test_quiet_still_reports_failures(cli, photos, style, tmp_path):
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")
    result = cli(photos, style, "-o", tmp_path / "out", *FAST)
    assert result.exit_code == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"failed: content image '{photos}/broken.jpg': image data is truncated or corrupt (")
    assert lines[1] == f"2 done, 0 skipped, 1 failed -> {tmp_path}/out"


def test_a_log_file_gets_plain_lines_not_progress_bars(cli, photos, style, tmp_path):
    result = cli(photos, style, "-o", tmp_path / "out", *QUIET_LESS)  # CliRunner's stderr is not a terminal
    assert result.exit_code == 0
    assert "\r" not in result.stderr and "\x1b[" not in result.stderr
    lines = result.stderr.splitlines()
    assert [line.split(" (")[0] for line in lines] == [f"[1/2] done: {tmp_path}/out/p0__red.jpg",
                                                       f"[2/2] done: {tmp_path}/out/p1__red.jpg"]
    assert result.stdout.strip() == f"2 done, 0 skipped, 0 failed -> {tmp_path}/out"


def test_outputs_and_snapshots_carry_the_settings(cli, photos, style, tmp_path):
    out = tmp_path / "out"
    result = cli(photos, style, "-o", out, *FAST, "--iterations", "4", "--save-every", "2", "--format", "png")
    assert result.exit_code == 0
    assert _names(out) == ["p0__red.png", "p0__red_0002.png", "p1__red.png", "p1__red_0002.png"]
    for name, steps in (("p0__red.png", 4), ("p1__red_0002.png", 2)):
        settings = json.loads(Image.open(out / name).text["stylize"])
        assert settings["steps"] == steps and settings["styles"] == [str(style)]
        assert settings["config"]["device"] == "cpu" and settings["config"]["precision"] in ("fp32", "bf16")


def test_an_image_name_as_the_output_of_a_folder_is_refused(cli, photos, style, tmp_path):
    result = cli(photos, style, "-o", tmp_path / "a.png", *FAST)
    assert result.exit_code == 2
    assert only_line(result) == (f"Error: output '{tmp_path}/a.png': the inputs are a folder, so the output is a folder"
                                 " too; give a folder name (or give one content image to write one file)")
    assert not (tmp_path / "a.png").exists()


def test_the_style_images_are_never_taken_as_content(cli, photos, tmp_path):
    make_style().save(photos / "painting.png")
    result = cli(photos, photos / "painting.png", "-o", tmp_path / "out", *FAST)
    assert result.exit_code == 0
    assert _names(tmp_path / "out") == ["p0__painting.jpg", "p1__painting.jpg"]


@pytest.mark.parametrize("where, recursive", [(".", False), ("sub", True)])
def test_an_output_folder_a_rerun_would_read_back_is_refused(cli, photos, style, where, recursive):
    out = photos / where
    flags = ["--recursive"] if recursive else []
    result = cli(photos, style, "-o", out, *FAST, *flags)
    assert result.exit_code == 2
    assert only_line(result) == (f"Error: output folder '{out}' is inside the content folder '{photos}':"
                                 " a re-run would stylize it; write it elsewhere")
    assert _names(photos) == ["p0.png", "p1.png"]


def test_a_sub_folder_of_the_content_is_fine_without_recursive(cli, photos, style):
    assert cli(photos, style, "-o", photos / "stylized", *FAST).exit_code == 0
    assert _names(photos / "stylized") == ["p0__red.jpg", "p1__red.jpg"]


def test_recursive_mirrors_the_sub_folders(cli, photos, style, tmp_path):
    (photos / "trip" / "day1").mkdir(parents=True)
    shutil.move(photos / "p1.png", photos / "trip" / "day1" / "p1.png")
    assert cli(photos, style, "-o", tmp_path / "out", *FAST, "--recursive").exit_code == 0
    assert _names(tmp_path / "out") == ["p0__red.jpg", "trip/day1/p1__red.jpg"]


@pytest.mark.parametrize("args, line", [
    (["--format", "xyz"], "Error: --format: cannot write 'xyz' files; use png, jpg, webp or tif"),
    (["--shard", "3/2"], "Error: --shard: '3/2' needs 1 <= K <= N (got K=3, N=2)"),
    (["--shard", "x"], "Error: --shard: 'x' is not K/N (e.g. 2/8), auto or auto/N"),
    (["--shard", "auto"], "Error: --shard auto: not in an array job (neither SLURM_ARRAY_TASK_ID nor"
                          " JOB_COMPLETION_INDEX is set); give K/N"),
])
def test_bad_batch_options(cli, photos, style, tmp_path, monkeypatch, args, line):
    for name in ("SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"):
        monkeypatch.delenv(name, raising=False)
    result = cli(photos, style, "-o", tmp_path / "out", *FAST, *args)
    assert result.exit_code == 2
    assert only_line(result) == line
    assert not (tmp_path / "out").exists()


def test_shard_auto_from_a_slurm_array(cli, photos, style, tmp_path, monkeypatch):
    make_content((40, 40)).save(photos / "p2.png")
    done = []
    for task in (0, 4, 8):  # --array=0-8:4
        monkeypatch.setenv("SLURM_ARRAY_TASK_ID", str(task))
        monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "0")
        monkeypatch.setenv("SLURM_ARRAY_TASK_STEP", "4")
        monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "3")
        out = tmp_path / f"out{task}"
        assert cli(photos, style, "-o", out, *FAST, "--shard", "auto").exit_code == 0
        done.append(_names(out))
    assert done == [["p0__red.jpg"], ["p1__red.jpg"], ["p2__red.jpg"]]


def test_shard_auto_n_from_a_kubernetes_indexed_job(cli, photos, style, tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")  # 0-based: the second of two
    result = cli(photos, style, "-o", tmp_path / "out", *QUIET_LESS, "--shard", "auto/2")
    assert result.exit_code == 0
    assert _names(tmp_path / "out") == ["p1__red.jpg"]
    assert result.stderr.splitlines()[0] == "shard 2/2 (from the array job's environment)"
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "0")
    result = cli(photos, style, "-o", tmp_path / "out", *FAST, "--shard", "auto")
    assert result.exit_code == 2
    assert only_line(result).startswith("Error: --shard auto: the array's size is not in the environment")


def test_grid_survives_a_file_the_run_refused(cli, photos, style, tmp_path):
    bomb_png(photos / "huge.png")
    sheet = tmp_path / "sheet.png"
    result = cli(photos, style, "--each-style", "-o", tmp_path / "out", *FAST, "--grid", sheet)
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert f"failed: content image '{photos}/huge.png': 100000x100000 px (10000 MP) is over the --max-pixels" \
           in result.stderr
    assert result.stderr.strip().endswith(f"2 done, 0 skipped, 1 failed -> {tmp_path}/out")
    assert Image.open(sheet).size == (2 * 160, 4 * (160 + 14))


def test_estimate_a_folder(cli, photos, style, tmp_path):
    (photos / "notes.txt").write_text("not a picture")
    result = cli(photos, style, "--estimate", "--size", "256")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    # p0 is 48x32 and p1 32x48: both give 256x171 / 171x256 px; the first of the largest is named.
    assert lines[0].startswith(f"{photos}: 2 images, the largest output 256x171 px (p0.png), 1 unreadable, vgg19 ")
    assert lines[-1].startswith("peak about ") and ": fits; about " in lines[-1]


def test_bad_file_is_reported_and_the_rest_is_done(cli, mixed_photos, two_styles, tmp_path):
    out = tmp_path / "out"
    result = cli(mixed_photos, two_styles / "red.png", "-o", out, *FAST)
    assert result.exit_code == 1
    assert outputs(out) == ["p0__red.jpg", "p1__red.jpg", "p2__red.jpg"]
    assert f"failed: content image '{mixed_photos}/broken.jpg': image data is truncated or corrupt (" in result.stderr
    assert "3 done, 0 skipped, 1 failed" in result.stdout + result.stderr
    assert Image.open(out / "p1__red.jpg").size == (21, 32)


def test_skip_existing_redoes_nothing(cli, mixed_photos, two_styles, tmp_path):
    out = tmp_path / "out"
    cli(mixed_photos, two_styles / "red.png", "-o", out, *FAST)
    stamps = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.iterdir()}
    result = cli(mixed_photos, two_styles / "red.png", "-o", out, *FAST, "--skip-existing")
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.iterdir()} == stamps
    assert "0 done, 3 skipped, 1 failed" in result.stdout + result.stderr


def test_shards_cover_every_item_once(cli, mixed_photos, two_styles, tmp_path):
    (mixed_photos / "broken.jpg").unlink()
    done = []
    for k in (1, 2):
        out = tmp_path / f"shard{k}"
        assert cli(mixed_photos, two_styles, "--each-style", "-o", out, *FAST, "--shard", f"{k}/2").exit_code == 0
        done += outputs(out)
    assert sorted(done) == sorted(f"p{i}__{s}.jpg" for i in range(3) for s in ("red", "green"))


def test_each_style_is_a_cross_product_and_blend_is_one_per_content(cli, mixed_photos, two_styles, tmp_path):
    (mixed_photos / "broken.jpg").unlink()
    assert cli(mixed_photos, two_styles, "--each-style", "-o", tmp_path / "each", *FAST).exit_code == 0
    assert len(outputs(tmp_path / "each")) == 3 * 2
    assert cli(mixed_photos, two_styles, "-o", tmp_path / "blend", *FAST, "--format", "png").exit_code == 0
    assert outputs(tmp_path / "blend") == [f"p{i}__green+red.png" for i in range(3)]


def test_network_and_style_targets_are_computed_once(cli, mixed_photos, two_styles, tmp_path, monkeypatch):
    (mixed_photos / "broken.jpg").unlink()
    calls = {"build": 0, "moments": 0}
    for module, name, key in ((stylize.core.engine, "build_extractor", "build"),
                              (stylize.core.styles, "style_moments", "moments")):
        original = getattr(module, name)

        def counted(*args, _original=original, _key=key, **kwargs):
            calls[_key] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)
    assert cli(mixed_photos, two_styles, "--each-style", "-o", tmp_path / "out", *FAST).exit_code == 0
    assert calls == {"build": 1, "moments": 2}  # one network, one target per style, for 6 outputs


def test_log_lines_match_the_outputs(cli, mixed_photos, two_styles, tmp_path):
    log = tmp_path / "run.jsonl"
    cli(mixed_photos, two_styles / "red.png", "-o", tmp_path / "out", *FAST, "--log", log)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [l["status"] for l in lines] == ["failed", "done", "done", "done"]
    for line in lines[1:]:
        assert (tmp_path / "out" / line["output"].split("/")[-1]).exists()
        assert line["losses"]["total"] > 0 and line["seconds"] > 0
    assert "broken.jpg': image data is truncated or corrupt" in lines[0]["error"]


def test_grid_has_a_cell_per_result_plus_headers(cli, mixed_photos, two_styles, tmp_path):
    sheet = tmp_path / "sheet.png"
    cli(mixed_photos, two_styles, "--each-style", "-o", tmp_path / "out", *FAST, "--grid", sheet)
    assert Image.open(sheet).size == (3 * 160, 5 * (160 + LABEL_PX))  # 2 two_styles + labels, 4 contents + header


def test_grid_for_a_single_run(cli, mixed_photos, two_styles, tmp_path):
    sheet = tmp_path / "sheet.jpg"
    result = cli(mixed_photos / "p0.png", two_styles / "red.png", "-o", tmp_path / "o.png", *FAST, "--grid", sheet)
    assert result.exit_code == 0
    assert Image.open(sheet).size == (2 * 160, 2 * (160 + LABEL_PX))


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_batch_leaves_no_partial_file(mixed_photos, two_styles, tmp_path, sig, code):
    (mixed_photos / "broken.jpg").unlink()
    out = tmp_path / "out"
    args = [sys.executable, "-m", "stylize", mixed_photos, two_styles / "red.png", "-o", out, "--weights", "random",
            "--size", "32", "--iterations", "100000", "--tolerance", "0", "-q"]
    with spawned(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        deadline = time.time() + HANG_GUARD
        while not out.exists() and time.time() < deadline:  # made once the network is loaded
            time.sleep(0.05)
        time.sleep(1)  # into the first image's iterations
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=HANG_GUARD)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    assert outputs(out) == []  # the image in progress is dropped, not half-written
    assert "0 done, 0 skipped, 0 failed (interrupted)" in stdout + stderr


def test_the_same_masks_for_every_photo_and_a_photo_of_another_shape_fails_alone(cli, photos, two_styles, tmp_path):
    wide = tmp_path / "wide.png"  # the shape of p0 (48x32); p1 is 32x48
    Image.new("L", (48, 32), 255).save(wide)
    result = cli(photos, two_styles, "-o", tmp_path / "out", *FAST, "--masks", f"{wide},{wide}")
    assert result.exit_code == 1
    assert outputs(tmp_path / "out") == ["p0__green+red.jpg"]
    assert "p1.png" in result.stderr and "the image it covers" in result.stderr


def test_masks_are_refused_with_each_style(cli, photos, two_styles, tmp_path):
    mask = tmp_path / "m.png"
    Image.new("L", (48, 32), 255).save(mask)
    result = cli(photos, two_styles, "--each-style", "-o", tmp_path / "out", *FAST, "--masks", f"{mask},{mask}")
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: --masks: one per style image of a blend; not with --each-style"
    result = cli(photos, two_styles, "-o", tmp_path / "out", *FAST, "--masks", str(mask))
    assert result.stderr.strip() == "Error: --masks: 1 mask for 2 style images; give one per style image, in the same order"
    assert outputs(tmp_path / "out") == []
