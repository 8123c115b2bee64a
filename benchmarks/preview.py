"""Does watching a run slow it? The same run with and without --preview, and a screenshot of the page.

    python benchmarks/preview.py                         # 256 px, 3 runs of each variant (~3 minutes)
    python benchmarks/preview.py --size 512 --repeat 3
    python benchmarks/preview.py --screenshot examples/preview.png   # the docs' picture of the page
    python benchmarks/preview.py --repeat 5 --table docs/benchmarks/preview-cpu.md   # the table also to the docs

Variants, interleaved run by run so the host's noise falls on all of them alike:
- plain: no preview (the CLI's progress callback only);
- page 1 Hz: the preview server up and a page polling it as the real one does (status.json
  every second, image.png when a new image is there), from another process like a browser;
- page 10 Hz: the same client ten times as often, a stress case.
The time is the optimization's (Result.seconds), the median of the runs; the ratio is
against plain in the same invocation. Bundled VGG19 weights, Chelsea x Starry Night.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))  # browser.py: the Chromium driver the browser test uses

# A page's polling loop in its own process (as a browser is); prints how many requests it made.
CLIENT = """
import json, sys, time, urllib.request
base, token, every = sys.argv[1], sys.argv[2], float(sys.argv[3])
since, version, requests, failures = 0, 0, 0, 0
while failures < 3:
    try:
        with urllib.request.urlopen(f"{base}/status.json?token={token}&since={since}", timeout=5) as r:
            status = json.load(r)
        requests += 1
        if status["history"]:
            since = status["history"][-1]["step"]
        if status["image"] != version:
            with urllib.request.urlopen(f"{base}/image.png?token={token}", timeout=5) as r:
                r.read()
            version, requests = status["image"], requests + 1
        failures = 0
    except OSError:
        failures += 1
    time.sleep(every)
print(requests)
"""


def main() -> None:
    from _tables import Tables, add_options, machine

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--screenshot", metavar="FILE.png", help="only take a screenshot of the page during a run")
    add_options(ap)
    args = ap.parse_args()
    if args.screenshot:
        return screenshot(Path(args.screenshot), args.size)

    from stylize import StylizeConfig
    from stylize.core.engine import Stylizer

    stylizer = Stylizer(StylizeConfig(size=args.size))
    content, style = EXAMPLES / "chelsea.jpg", EXAMPLES / "starry_night.jpg"
    stylizer.run(content, style)  # warm-up: kernels chosen, style moments cached for every variant alike
    variants = {"plain": None, "page 1 Hz": 1.0, "page 10 Hz": 0.1}
    seconds, requests, callback = ({name: [] for name in variants} for _ in range(3))
    order = random.Random(0)
    for _ in range(args.repeat):
        names = list(variants)
        order.shuffle(names)  # no variant always follows another: the host's drift spreads evenly
        for name in names:
            took, served, spent = one_run(stylizer, content, style, variants[name])
            seconds[name].append(took)
            requests[name].append(served)
            callback[name].append(spent)
    base = statistics.median(seconds["plain"])
    print(f"# {machine(str(stylizer.device))}, {args.size} px, bundled VGG19, {args.repeat} runs each\n")
    tables = Tables(args, str(stylizer.device))
    tables.print("| variant | optimization s (median) | runs | vs plain | requests per run |"
                 " in the page's callback, s per run |")
    tables.print("|---|---|---|---|---|---|")
    for name in variants:
        median = statistics.median(seconds[name])
        runs = ", ".join(f"{s:.1f}" for s in seconds[name])
        watched = variants[name] is not None
        served = f"{statistics.median(requests[name]):.0f}" if watched else "-"
        spent = f"{statistics.median(callback[name]):.3f}" if watched else "-"
        tables.print(f"| {name} | {median:.1f} | {runs} | {median / base:.3f}x | {served} | {spent} |")
    tables.write()


def one_run(stylizer, content, style, every) -> tuple[float, int, float]:
    """(optimization s, requests the page made, s the run spent in the page's callback) of one run,
    watched every ``every`` s or not."""
    from stylize.watch.preview import Preview, PreviewServer

    if every is None:
        return stylizer.run(content, style, on_progress=lambda p: None).seconds, 0, 0.0
    preview = Preview("bench")
    spent = 0.0

    def on_progress(progress) -> None:
        nonlocal spent
        started = time.perf_counter()
        preview.update(progress)
        spent += time.perf_counter() - started

    with PreviewServer(preview) as server:
        client = subprocess.Popen([sys.executable, "-c", CLIENT, f"http://127.0.0.1:{server.port}", preview.token,
                                   str(every)], stdout=subprocess.PIPE, text=True)
        result = stylizer.run(content, style, on_progress=on_progress)
    made = client.communicate(timeout=60)[0]  # the server is gone: the client ends
    return result.seconds, int(made.strip() or 0), spent


def screenshot(path: Path, size: int) -> None:
    """A real run with --preview; the page in headless Chromium once the last scale is under way."""
    import io
    import urllib.request

    from PIL import Image

    from browser import Browser

    out = Path(tempfile.mkdtemp()) / "chelsea__starry_night.jpg"  # the page's title names the output
    proc = subprocess.Popen([sys.executable, "-m", "stylize", str(EXAMPLES / "chelsea.jpg"),
                             str(EXAMPLES / "starry_night.jpg"), "--size", str(size), "-o", str(out), "--preview"],
                            stderr=subprocess.PIPE, text=True)
    try:
        base, token = proc.stderr.readline().split(" ", 1)[1].strip().split("/?token=")

        def status() -> dict:
            with urllib.request.urlopen(f"{base}/status.json?token={token}", timeout=5) as r:
                return json.load(r)

        while not ((s := status())["scale"] and s["scale"][0] == s["scale"][1] and s["step"] >= s["total"] - 30):
            time.sleep(0.5)  # into the last scale, 30 iterations from its end
        with Browser(1200, 510) as browser:
            browser.goto(f"{base}/?token={token}")
            browser.evaluate("new Promise((r) => setTimeout(r, 2500))")  # two polls: image and curve in
            shot = Image.open(io.BytesIO(browser.screenshot())).convert("RGB")
        shot.save(path, quality=88) if path.suffix.lower() in (".jpg", ".jpeg") else shot.save(path)
        print(f"{path}: the page at iteration {status()['step']}")
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(out.parent)


if __name__ == "__main__":
    main()
