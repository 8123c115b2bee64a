"""Flicker and time per frame of a stylized clip: temporal consistency against independent frames.

The clip is made here from examples/chelsea.jpg: a camera that pans and zooms slowly over
the photo (a real picture, a synthetic move) with a white card crossing it, so the true
motion has both a smooth field and occlusion edges. Each variant stylizes it with
stylize_video; the flicker of an output is the mean absolute difference, in 0..255,
between each frame and the previous output frame warped by the *input's* DIS flow, on
the pixels where that flow is reliable (Ruder et al.'s consistency test). Lower is
steadier; a clip's own flicker (the input frames measured the same way) is the floor.

    python benchmarks/flicker.py --size 256 --frames 12
    python benchmarks/flicker.py --size 512 --frames 6 --variants independent=0 default
    python benchmarks/flicker.py --variants w50=50:30 w200=200:30 w200i15=200:15
    python benchmarks/flicker.py --size 256 --frames 12 --table docs/benchmarks/flicker-cpu.md

A variant is NAME (default: the VideoConfig defaults; independent: temporal weight 0) or
NAME=WEIGHT[:ITERATIONS]. Outputs and a JSON record go to benchmarks/out/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from dataclasses import replace
from pathlib import Path

from _process import EXAMPLES
from _tables import Tables, add_options
from PIL import Image, ImageDraw

from stylize import StylizeConfig
from stylize.jobs.video import VideoConfig, stylize_video, work_folder
from stylize.media.flow import DISFlow, flicker, reliable
from stylize.media.imageio import to_tensor
from stylize.media.videoio import read_frames, write_video


def make_clip(path: Path, frames: int, size: int, fps: int = 12) -> Path:
    photo = Image.open(EXAMPLES / "chelsea.jpg").convert("RGB")
    w, h = size - size % 2, round(size * photo.height / photo.width / 2) * 2

    def frame(i: int) -> Image.Image:
        zoom = 1 - 0.006 * i  # the crop shrinks: a slow zoom in
        cw, ch = photo.width * 0.8 * zoom, photo.height * 0.8 * zoom
        x0, y0 = 10 + 1.5 * i, 8 + 0.6 * i  # and pans right and down
        im = photo.resize((w, h), Image.Resampling.LANCZOS, box=(x0, y0, x0 + cw, y0 + ch))
        card = w * (0.9 - 0.05 * i)
        ImageDraw.Draw(im).rectangle((card, h * 0.15, card + w * 0.12, h * 0.35), fill=(245, 245, 240))
        return im

    write_video(path, (frame(i) for i in range(frames)), fps)
    return path


def variant(text: str) -> tuple[str, VideoConfig]:
    name, _, spec = text.partition("=")
    if not spec:
        return name, VideoConfig(temporal_weight=0.0) if name == "independent" else VideoConfig()
    weight, _, iterations = spec.partition(":")
    video = replace(VideoConfig(), temporal_weight=float(weight))
    return name, replace(video, frame_iterations=int(iterations)) if iterations else video


def measure(inputs: list[Image.Image], outputs: list[Image.Image]) -> float:
    flow, values = DISFlow(), []
    for t in range(1, len(outputs)):
        back, forward = flow(inputs[t], inputs[t - 1]), flow(inputs[t - 1], inputs[t])
        values.append(flicker(to_tensor(outputs[t]), to_tensor(outputs[t - 1]), back, reliable(back, forward)))
    return statistics.mean(values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--variants", nargs="+", default=["independent", "default"])
    ap.add_argument("--style", default=str(EXAMPLES / "starry_night.jpg"))
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "out"))
    add_options(ap)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clip = make_clip(out / f"flicker_clip_{args.size}.mp4", args.frames, args.size)
    inputs = list(read_frames(clip))
    config = StylizeConfig(size=args.size)
    tables = Tables(args)
    tables.print(f"clip: {len(inputs)} frames of {inputs[0].width}x{inputs[0].height} px; its own flicker"
                 f" {measure(inputs, inputs):.2f}\n")
    tables.print("| variant | temporal weight | iterations per later frame | first frame s | later frames s (median)"
                 " | flicker (0-255) |\n|---|---|---|---|---|---|")
    records = []
    for name, video in map(variant, args.variants):
        target = out / f"flicker_{args.size}_{name}.mp4"
        shutil.rmtree(work_folder(target), ignore_errors=True)  # measure, never resume
        times = []
        started = time.perf_counter()
        stylize_video(clip, [args.style], target, config, replace(video, keep_frames=True),
                      on_frame=lambda done, times=times: times.append(done.seconds))
        frames = [Image.open(p).convert("RGB") for p in sorted(work_folder(target).glob("*.png"))]
        value = measure(inputs, frames)
        later = statistics.median(times[1:]) if len(times) > 1 else float("nan")
        tables.print(f"| {name} | {video.temporal_weight:g} |"
                     f" {video.frame_iterations if video.temporal_weight else 'all'}"
                     f" | {times[0]:.1f} | {later:.1f} | {value:.2f} |", flush=True)
        records.append({"variant": name, "video": vars(video), "first": times[0], "later": times[1:],
                        "flicker": value, "wall": time.perf_counter() - started})
    (out / f"flicker_{args.size}.json").write_text(json.dumps(records, indent=1))
    tables.write()


if __name__ == "__main__":
    main()
