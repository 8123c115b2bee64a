"""`stylize photo.jpg painting.jpg -o out.jpg`: one image, the CLI's side (checks, bar, save, summary)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import click

from ..config import StylizeConfig, check_masks
from ..errors import Interrupted, opt
from ..watch.session import WATCH_DEFAULTS, Watch, WatchConfig
from .common import Signals, check_inputs, check_plot_option
from .display import Display, ProgressBar, snapshot_path, summary


def run_single(content: str, styles: list[str], output: str, config: StylizeConfig, quiet: bool,
             grid: Optional[str], signals: Signals, masks=None, style_masks=None,
             watch: WatchConfig = WATCH_DEFAULTS) -> None:
    from ..media.imageio import check_not_an_input, check_output  # Pillow only: torch loads below

    inputs = [content, *styles, None if config.init in ("content", "noise") else config.init,
              *(masks or ()), *(style_masks or ())]
    for path, what in ((output, "output"), (grid, f"{opt('grid')} sheet")):
        if path:
            check_output(path)  # before any work: a bad output path must not cost a whole run
            check_not_an_input(path, inputs, what)
    check_plot_option(watch, inputs)
    for given, option in ((masks, "masks"), (style_masks, "style_masks")):
        check_masks(option, given, len(styles))
    check_inputs([content], styles, config, masks, style_masks)
    existed = Path(output).exists()
    with Watch(watch, Path(output).name) as watching:  # a busy port fails here, before torch loads
        from ..core.engine import Stylizer

        started = time.perf_counter()
        display = Display(quiet)
        bar = ProgressBar(display, Path(output).name, snapshots=Path(output), log_scales=True)
        try:
            result = Stylizer(config, len(styles)).run(content, styles, on_progress=watching.callback(bar.update),
                                                       masks=masks, style_masks=style_masks)
        except Interrupted as e:
            bar.close()
            _save_interrupted(e, Path(output), existed)
            watching.end("interrupted", e.image)
            raise SystemExit(signals.code)
        except BaseException:
            watching.end("failed")
            raise
        finally:
            bar.close()
        display.notices(result.notices)
        result.save(output)
        watching.end("stopped" if result.stopped else "done", result.image)
    if grid:
        from ..media.grid import save_contact_sheet

        group = tuple(map(Path, styles))
        save_contact_sheet(grid, [Path(content)], [group], {(Path(content), group): Path(output)},
                           max_pixels=config.max_pixels)
    if not quiet:
        click.echo(f"{output}: {summary(result, time.perf_counter() - started)}")


def _save_interrupted(e: Interrupted, output: Path, existed: bool) -> None:
    """The rule: a partial image never replaces a file that was there before the run.

    Before the first iteration nothing is saved (the engine raises a plain KeyboardInterrupt:
    the photo itself is no result). After it, the image goes to OUTPUT, or, when OUTPUT
    already existed (say, a finished image of an earlier run), beside it as OUTPUT_<iteration>.
    """
    where = snapshot_path(output, e.step) if existed else output
    e.result.save(where, interrupted_at=e.step)
    kept = f"kept the existing {output}; " if existed else ""
    click.echo(f"Interrupted at iteration {e.step}: {kept}saved the current image to {where}", err=True)
