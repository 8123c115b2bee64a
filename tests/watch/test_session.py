"""`stylize --preview` and `--plot` end to end: a real run in a subprocess, read over HTTP."""

import json
import signal
import socket

import pytest
from PIL import Image

from conftest import HANG_GUARD, LONG, fetch, make_clip, make_content, start, status, wait_for

pytestmark = pytest.mark.slow
# Random weights at 32 px: fast iterations, and far more of them than a test waits for.
def test_watch_a_run_then_stop_it_from_the_page(images, tmp_path, finish):
    out, plot = tmp_path / "out.png", tmp_path / "losses.png"
    proc, base, token = start([images["content"], images["style"], *LONG, "-o", out, "--plot", plot], tmp_path)
    finish(proc)
    page = fetch(f"{base}/?token={token}")
    assert page[0] == 200 and b"Stop and save" in page[2]
    assert fetch(f"{base}/")[0] == 403 and fetch(f"{base}/image.png")[0] == 403
    first = wait_for(lambda: status(base, token)["image"] >= 1 and status(base, token))
    png = fetch(f"{base}/image.png?token={token}")[2]
    with Image.open(__import__("io").BytesIO(png)) as im:
        assert im.format == "PNG" and im.size == (32, 21)
    wait_for(lambda: status(base, token)["image"] > first["image"])
    assert fetch(f"{base}/image.png?token={token}")[2] != png  # the picture moves on with the run
    now = status(base, token)
    assert now["state"] == "running" and now["total"] == 20000 and now["step"] > first["step"]
    assert len(now["history"]) == now["step"] and set(now["history"][0]) == {"step", "content", "style", "tv", "total"}
    assert fetch(f"{base}/stop", "POST")[0] == 403 and status(base, token)["state"] == "running"
    assert fetch(f"{base}/stop?token={token}", "POST")[0] == 202
    stdout, stderr = proc.communicate(timeout=HANG_GUARD)
    assert proc.returncode == 0, stderr
    assert stdout.startswith(f"{out}: stopped at iteration ") and " 32x21 px, " in stdout
    step = int(stdout.split("stopped at iteration ")[1].split(",")[0])
    assert step >= now["step"]
    with Image.open(out) as im:
        assert im.size == (32, 21) and json.loads(im.text["stylize"])["stopped_at"] == step
    with Image.open(plot) as im:
        assert im.format == "PNG"
    with pytest.raises(OSError):  # the server went with the run
        socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=2).close()


def test_ctrl_c_still_saves_and_plots(images, tmp_path, finish):
    out, plot = tmp_path / "out.png", tmp_path / "losses.svg"
    proc, base, token = start([images["content"], images["style"], *LONG, "-o", out, "--plot", plot], tmp_path)
    finish(proc)
    wait_for(lambda: status(base, token)["step"] >= 3)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=HANG_GUARD)
    assert proc.returncode == 130
    assert f"saved the current image to {out}" in stderr
    assert out.exists() and b"<svg" in plot.read_bytes()[:300]


def test_a_batch_shows_its_item_and_stops_after_what_is_done(images, tmp_path, finish):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        make_content((48, 32)).save(photos / f"p{i}.png")
    short = ["--weights", "random", "--size", "32", "--min-size", "0", "--iterations", "150", "--tolerance", "0"]
    proc, base, token = start([photos, images["style"], *short, "-o", tmp_path / "out", "--format", "png"], tmp_path)
    finish(proc)
    item = wait_for(lambda: (status(base, token)["item"] or {}).get("index", 0) >= 2 and status(base, token)["item"])
    assert item["count"] == 3 and item["done"] >= 1 and " -> " in item["name"]
    assert fetch(f"{base}/stop?token={token}", "POST")[0] == 202
    stdout, stderr = proc.communicate(timeout=HANG_GUARD)
    assert proc.returncode == 0, stderr
    done = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert stdout.strip() == f"{len(done)} done, 0 skipped, 0 failed (stopped) -> {tmp_path / 'out'}"
    assert 1 <= len(done) < 3 and all(not n.endswith(".tmp") for n in done)


def test_a_busy_port_is_one_line_before_any_work(cli, images, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli(images["content"], images["style"], "--weights", "random", "-o", tmp_path / "o.png",
                     "--preview-port", port)
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"Error: --preview-port: port {port} on 127.0.0.1 is in use;"
                                     " give another --preview-port, or none for a free port")
    assert not (tmp_path / "o.png").exists()


def test_plot_without_a_page(cli, images, tmp_path):
    result = cli(images["content"], images["style"], "--weights", "random", "--size", "32", "--iterations", "4",
                 "-o", tmp_path / "o.png", "--plot", tmp_path / "p.png", "-q")
    assert result.exit_code == 0 and result.stderr == ""
    with Image.open(tmp_path / "p.png") as im:
        assert im.size == (800, 450)


def test_a_batch_plots_a_figure_per_item_beside_the_file(cli, images, tmp_path):
    folder = tmp_path / "photos"
    (folder / "trip").mkdir(parents=True)
    make_content().save(folder / "a.png")
    make_content((32, 48)).save(folder / "trip" / "b.png")
    result = cli(folder, images["style"], "-o", tmp_path / "out", "--recursive", "--weights", "random", "--size", "32",
                 "--iterations", "3", "--min-size", "0", "--plot", tmp_path / "p.png", "-q")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in tmp_path.glob("p*.png")) == ["p_a__style.png", "p_trip_b__style.png"]
    assert not (tmp_path / "p.png").exists()
    with Image.open(tmp_path / "p_a__style.png") as im:
        assert im.size == (800, 450)


def test_a_video_plots_the_first_frames_curves_and_every_frames_final_losses(cli, images, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=3, audio=0)
    result = cli(clip, images["style"], "-o", tmp_path / "o.mp4", "--weights", "random", "--size", "32",
                 "--iterations", "3", "--min-size", "0", "--frame-iterations", "2", "--plot", tmp_path / "p.png", "-q")
    assert result.exit_code == 0, result.stderr
    with Image.open(tmp_path / "p.png") as im:
        assert im.size == (1200, 450)


def test_a_plot_that_would_overwrite_an_input_is_refused_for_every_kind_of_job(cli, images, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    make_content().save(folder / "a.png")
    result = cli(folder, images["style"], "-o", tmp_path / "out", "--plot", images["style"])
    assert (result.exit_code, result.stderr) == (2, f"Error: --plot file '{images['style']}' is the input file"
                                                    f" '{images['style']}'; writing it would destroy the input\n")
    clip = make_clip(tmp_path / "clip.mp4", frames=2)
    result = cli(clip, images["style"], "-o", tmp_path / "o.mp4", "--plot", tmp_path / "p.jpg")
    assert (result.exit_code, result.stderr) == (2, f"Error: --plot: '{tmp_path / 'p.jpg'}': the plot is written"
                                                    " as .png, .svg, .pdf; name it so\n")


def test_a_clip_shows_its_frame_and_a_stop_keeps_the_finished_frames(images, tmp_path, finish):
    clip = make_clip(tmp_path / "clip.mp4", frames=6, audio=0)
    out = tmp_path / "out.mp4"
    slow = ["--weights", "random", "--size", "32", "--min-size", "0", "--iterations", "20",
            "--frame-iterations", "2000", "--tolerance", "0"]
    proc, base, token = start([clip, images["style"], *slow, "-o", out], tmp_path)
    finish(proc)
    item = wait_for(lambda: (status(base, token)["item"] or {}).get("index", 0) == 2 and status(base, token)["item"])
    assert item == {"name": "frame 2", "index": 2, "count": 6, "done": 1}
    wait_for(lambda: status(base, token)["image"] >= 1)
    assert fetch(f"{base}/image.png?token={token}")[0] == 200
    assert fetch(f"{base}/stop?token={token}", "POST")[0] == 202
    _, stderr = proc.communicate(timeout=HANG_GUARD)
    assert proc.returncode == 0, stderr
    folder = tmp_path / "out.mp4.frames"
    assert stderr.strip().splitlines()[-1] == (f"Stopped: 1 finished frame kept in {folder};"
                                               " the same command continues from there")
    assert sorted(p.name for p in folder.glob("*.png")) == ["000001.png"] and not out.exists()


def test_a_long_batch_keeps_no_curves_and_writes_each_items_figure_as_it_ends(tmp_path):
    from stylize.core.progress import Progress
    from stylize.watch.session import Watch, WatchConfig

    def feed(watch, steps=3):
        report = watch.callback(lambda progress: None)
        for step in range(1, steps + 1):
            report(Progress(step, steps, {"content": 1.0, "style": 2.0 / step, "tv": 0.1, "total": 3.0}, 0.1))

    unplotted = Watch(WatchConfig(), "photos -> out", plot="items")
    for i in range(3):
        unplotted.start_item(f"p{i}.png -> out/p{i}.jpg", i + 1, 3, i, key=f"p{i}")
        feed(unplotted)
    unplotted.end("done")
    assert unplotted.first is None and unplotted.finals == []  # nothing held for a plot nobody asked for
    plotted = Watch(WatchConfig(plot=str(tmp_path / "p.png")), "photos -> out", plot="items")
    plotted.start_item("a.png -> out/a.jpg", 1, 2, 0, key="a")
    feed(plotted)
    plotted.start_item("b.png -> out/b.jpg", 2, 2, 1, key="sub/b")
    assert [p.name for p in tmp_path.iterdir()] == ["p_a.png"]  # the first item's figure, before the batch ends
    feed(plotted)
    plotted.end("done")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p_a.png", "p_sub_b.png"]
