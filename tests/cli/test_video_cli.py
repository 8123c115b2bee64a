"""`stylize clip.mp4 painting.png -o out.mp4`: end to end through the CLI, random weights, tiny frames."""

import pytest
from PIL import Image

from stylize.media.videoio import probe

from conftest import HANG_GUARD, make_clip

FAST = ["--weights", "random", "--size", "32", "--iterations", "2", "--coarse-iterations", "2", "--min-size", "16",
        "--frame-iterations", "2"]


def test_a_video_in_gives_a_video_out(cli, images, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=4, fps=8, audio=0.5)
    out = tmp_path / "painted.mp4"
    result = cli(clip, images["style"], "-o", out, *FAST)
    assert result.exit_code == 0, result.stderr
    info = probe(out)
    assert (info.frames, info.fps, info.audio) == (4, 8, True)
    assert result.stdout.startswith(f"{out}: 4 frames of 32x24 px at 8 fps with audio in ")
    assert "frame 4/4" in result.stderr  # a line per frame when stderr is not a terminal
    assert not (tmp_path / "painted.mp4.frames").exists()


def test_the_video_is_found_by_content_not_by_name(cli, images, tmp_path):
    clip = make_clip(tmp_path / "clip.data", frames=2, audio=0)
    out = tmp_path / "o.mkv"
    assert cli(clip, images["style"], "-o", out, *FAST, "-q").exit_code == 0
    assert probe(out).frames == 2


def test_an_animated_webp_for_a_web_page(cli, images, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=3, fps=8, audio=0.3)
    out = tmp_path / "loop.webp"
    assert cli(clip, images["style"], "-o", out, *FAST, "-q").exit_code == 0
    with Image.open(out) as im:
        assert (im.format, im.n_frames, im.size, im.info["loop"]) == ("WEBP", 3, (32, 24), 0)
        im.seek(1)
        im.load()
        assert im.info["duration"] == 125  # ms: 8 fps


def test_bad_video_input_is_one_line(cli, images, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 200)
    result = cli(broken, images["style"], "-o", tmp_path / "o.mp4", *FAST)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: video '{broken}': cannot be read (") and result.stderr.count("\n") == 1
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.mp4.frames").exists()


def test_video_options_and_outputs_are_checked(cli, images, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=2, audio=0)
    result = cli(clip, images["style"], "-o", tmp_path / "o.png", *FAST)
    assert result.exit_code == 2
    assert result.stderr == (f"Error: --output: '{tmp_path / 'o.png'}' is not a video name; the content is a video,"
                             " so the output is one too (.mp4, .mov or .mkv; .webp or .gif for a short silent loop; no extension: a folder"
                             " of frames)\n")
    result = cli(clip, images["style"], "-o", tmp_path / "o.mp4", "--temporal-weight", "-1")
    assert (result.exit_code, result.stderr) == (2, "Error: --temporal-weight: must be >= 0 (got -1)\n")
    result = cli(clip, images["style"], "-o", tmp_path / "o.mp4", "--fps", "0", *FAST)
    assert (result.exit_code, result.stderr) == (2, "Error: --fps: must be > 0 (got 0)\n")
    result = cli(clip, images["style"], "-o", tmp_path / "o.mp4", "--frames", *FAST)
    assert (result.exit_code, result.stderr) == (2, f"Error: --frames: '{clip}' is not a folder of frames\n")


@pytest.mark.slow
def test_ctrl_c_keeps_finished_frames_and_the_same_command_resumes(images, tmp_path):
    import signal
    import sys

    from conftest import spawned

    clip = make_clip(tmp_path / "clip.mp4", frames=8, audio=0)
    out = tmp_path / "o.mp4"
    args = [sys.executable, "-m", "stylize", clip, images["style"], "-o", out, "--weights", "random", "--size", "32",
            "--min-size", "0", "--iterations", "60", "--frame-iterations", "60"]
    with spawned(args, stderr=__import__("subprocess").PIPE) as proc:
        for line in proc.stderr:
            if "frame 2/8" in line:
                proc.send_signal(signal.SIGINT)
                break
        rest = proc.stderr.read()
        assert proc.wait(timeout=HANG_GUARD) == 130
    assert "Interrupted: " in rest and "the same command continues from there" in rest
    kept = sorted(p.name for p in (tmp_path / "o.mp4.frames").glob("*.png"))
    assert kept[:2] == ["000001.png", "000002.png"] and not out.exists()
    import subprocess

    again = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=HANG_GUARD)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("resumed") == len(kept) and f"{len(kept)} resumed" in again.stdout
    assert probe(out).frames == 8


def test_a_folder_of_frames_in_and_out(cli, images, tmp_path):
    from stylize.media.videoio import read_frames

    frames = tmp_path / "frames"
    frames.mkdir()
    for i, im in enumerate(read_frames(make_clip(tmp_path / "clip.mp4", frames=3, audio=0))):
        im.save(frames / f"shot_{i + 9}.png")  # shot_9, shot_10, shot_11: numbers, not letters, order them
    out = tmp_path / "painted"
    assert cli(frames, images["style"], "--frames", "-o", out, *FAST, "-q").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["shot_10.png", "shot_11.png", "shot_9.png"]
    assert Image.open(out / "shot_9.png").size == (32, 24)
    as_video = tmp_path / "painted.mp4"
    assert cli(frames, images["style"], "--frames", "--fps", "25", "-o", as_video, *FAST, "-q").exit_code == 0
    assert (probe(as_video).frames, probe(as_video).fps) == (3, 25)


def test_raft_offline_is_one_line(cli, images, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty cache: it must download
    clip = make_clip(tmp_path / "clip.mp4", frames=2, audio=0)
    result = cli(clip, images["style"], "-o", tmp_path / "o.mp4", "--flow", "raft", *FAST)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: --flow raft: could not download its weights (")
    assert result.stderr.rstrip().endswith("offline, use --flow dis or give a file with --flow-weights")
    assert result.stderr.count("\n") == 1


def test_an_output_under_a_file_fails_before_any_frame_and_missing_folders_are_made(cli, images, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=2, audio=0)
    out = clip / "o.mp4"
    result = cli(clip, images["style"], "-o", out, *FAST)
    assert (result.exit_code, result.stderr) == (2, f"Error: output '{out}': '{clip}' is not a folder\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "content.png", "style.png", "style2.png"]
    out = tmp_path / "new" / "o.mp4"  # as for an image, and as a batch makes its folder
    assert cli(clip, images["style"], "-o", out, *FAST).exit_code == 0
    assert out.is_file()
