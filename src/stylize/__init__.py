"""stylize: neural style transfer (Gatys et al.) as a command-line tool and a small library.

    from stylize import stylize, StylizeConfig
    image = stylize("photo.jpg", "painting.jpg", config=StylizeConfig(size=256))

The heavy modules load on first use, so ``stylize --help`` never waits for torch.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .config import DEFAULTS, StylizeConfig
from .errors import BadInputError, Interrupted, RunError, StopRun, StylizeError

try:
    __version__ = version("stylize")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

_LAZY = {"stylize": "core.engine", "run": "core.engine", "Stylizer": "core.engine", "Progress": "core.progress",
         "Result": "core.engine", "stylize_video": "jobs.video", "VideoConfig": "jobs.video", "batch": "jobs.batch"}

__all__ = ["stylize", "run", "Stylizer", "Progress", "Result", "stylize_video", "VideoConfig", "batch", "StylizeConfig",
           "DEFAULTS",
           "StylizeError", "BadInputError", "RunError", "Interrupted", "StopRun",
           "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'stylize' has no attribute {name!r}")
