"""The `stylize` command in batch mode: checks, plan, bars or lines, log, summary, grid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import click

from ..config import BatchConfig, StylizeConfig, check_masks
from ..errors import BadInputError, cli_flag, opt
from ..jobs.batch import ItemResult, Summary, batch, expand, parse_shard, work_list
from ..jobs.batch import shard as take_shard
from ..watch.session import WATCH_DEFAULTS, Watch, WatchConfig
from .common import check_inputs, check_plot_option
from .display import Display, ProgressBar


def run_batch(content: str, styles: list[str], output: str, config: StylizeConfig, options: BatchConfig, *,
              quiet: bool, grid: Optional[str], log: Optional[str], signals, masks=None, style_masks=None,
              watch: WatchConfig = WATCH_DEFAULTS) -> int:
    """Returns the exit code: 0 all done (or stopped from the preview page), 1 something failed,
    130/143 interrupted.

    ``masks``: the same for every content image (each must have the masks' shape).
    """
    from ..media.imageio import check_format, check_not_an_input, check_output

    check_format(options.format)  # fail now, not after the first image
    style_files = expand(styles, "style")
    contents = expand([content], "content", options.recursive, exclude=style_files)
    check_plot_option(watch, [*contents, *style_files])
    out_dir = _check_out_dir(output, content, options.recursive)
    for path, what in ((grid, "grid"), (log, "log")):
        if path:
            _check_not_read_back(Path(path), Path(content), options.recursive, opt(what))
            check_not_an_input(path, [*contents, *style_files], f"{opt(what)} file")
    if grid:
        check_output(grid)
    if not (quiet or options.shard is None or "auto" not in options.shard):
        k, n = parse_shard(options.shard)
        click.echo(f"shard {k}/{n} (from the array job's environment)", err=True)
    _check_masks(masks, style_masks, style_files, options)
    check_inputs([], style_files, config, masks, style_masks)  # every item needs them: a bad one fails the batch now
    root = Path(content) if Path(content).is_dir() else None
    everything = work_list(contents, style_files, out_dir, each_style=options.each_style, name=options.name,
                      ext=options.format, content_root=root)
    items = take_shard(everything, options.shard)
    with Watch(watch, f"{content} -> {out_dir}", plot="items") as watching:
        reporter = _Reporter(len(items), quiet, log, config.save_every > 0, watching, out_dir)
        try:
            summary = batch(items, config, skip_existing=options.skip_existing, on_item=reporter.item,
                            on_progress=reporter.step, masks=masks, style_masks=style_masks)
        finally:
            reporter.close()
        watching.end("interrupted" if summary.interrupted else "stopped" if summary.stopped else "done")
    if grid and not summary.interrupted:
        _grid(grid, summary, config.max_pixels)
    failed = summary.count("failed") > 0
    if not quiet or failed or summary.interrupted:
        click.echo(f"{summary.line()} -> {out_dir}", err=quiet)
    if summary.interrupted:
        return signals.code
    return 1 if failed else 0



def _check_masks(masks, style_masks, style_files: list, options: BatchConfig) -> None:
    """Masks go with the style images of one blend: one per style, not with --each-style."""
    for given, option in ((masks, "masks"), (style_masks, "style_masks")):
        if given is None:
            continue
        if options.each_style:
            raise BadInputError(f"one per style image of a blend; not with {opt('each_style')}", option)
        check_masks(option, given, len(style_files))  # (a folder's styles are taken in name order)

def _check_out_dir(output: str, content: str, recursive: bool) -> Path:
    """The output folder: not a file, not an image name, not where a re-run would read it back."""
    from ..media.imageio import check_writable, is_image_name

    out_dir = Path(output)
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInputError(f"output '{output}': batch mode writes into a folder, and this is a file")
    if not out_dir.exists() and is_image_name(out_dir):
        raise BadInputError(f"output '{output}': the inputs are a folder, so the output is a folder too;"
                            " give a folder name (or give one content image to write one file)")
    _check_not_read_back(out_dir / "x", Path(content), recursive, "output")
    check_writable(out_dir / "probe")  # writable, or where it can be made (missing folders are, as for one image)
    return out_dir


def _check_not_read_back(path: Path, content: Path, recursive: bool, what: str) -> None:
    """Refuse a file written where a re-run would take it for a content image."""
    if not content.is_dir():
        return
    folder, source = path.parent.resolve(), content.resolve()
    inside = folder == source or (recursive and source in folder.parents)
    if inside:
        where = "folder" if what == "output" else "file"
        raise BadInputError(f"{what} {where} '{path.parent if what == 'output' else path}' is inside the content"
                            f" folder '{content}': a re-run would stylize it; write it elsewhere")


class _Reporter:
    """A bar over items above one over a run's iterations; in a log, a line per item.

    Failures and notes are always one line each; with ``-q`` nothing else is printed.
    """

    def __init__(self, total: int, quiet: bool, log: Optional[str], snapshots: bool, watch: Watch, out_dir: Path):
        self.display = Display(quiet)
        self.display.open("outer", total, "images", "img", rate=True)
        self.total, self.done = total, 0
        self.snapshots = snapshots
        self.inner: Optional[ProgressBar] = None
        self.current = None
        self.log = open(log, "a", encoding="utf-8") if log else None
        self.watch, self.out_dir = watch, out_dir
        self.on_progress = None

    def step(self, item, progress) -> None:
        if self.current is not item:
            self._close_inner()
            self.current = item
            self.inner = ProgressBar(self.display, item.output.name, snapshots=item.output if self.snapshots else None)
            key = item.output.relative_to(self.out_dir).with_suffix("").as_posix()  # its plot: FILE_<key>.png
            self.watch.start_item(f"{item.content.name} -> {item.output}", self.done + 1, self.total, self.done, key)
            self.on_progress = self.watch.callback(self.inner.update)
        self.on_progress(progress)

    def item(self, result: ItemResult) -> None:
        self._close_inner()
        self.done += 1
        self.display.advance("outer", self.done)
        if result.status == "failed":
            error = result.error(cli_flag)
            named = str(result.item.content) in error  # the loader's errors name the file
            where = "" if named else f"{result.item.content}: "
            self.display.say(f"failed: {where}{error}", always=True)
        elif self.display.log:
            what = f"{result.seconds:.1f} s" if result.status == "done" else "exists"
            self.display.say(f"[{self.done}/{self.total}] {result.status}: {result.item.output} ({what})")
        self.display.notices(result.notices, f"{result.item.output}: ")
        if self.log:
            self.log.write(json.dumps(result.to_json(cli_flag)) + "\n")
            self.log.flush()  # a killed batch still leaves a complete log of what it did

    def _close_inner(self) -> None:
        if self.inner is not None:
            self.inner.close()
            self.inner, self.current = None, None

    def close(self) -> None:
        self._close_inner()
        self.display.close()
        if self.log:
            self.log.close()


def _grid(path: str, summary: Summary, max_pixels: int) -> None:
    from ..media.grid import save_contact_sheet

    contents = list(dict.fromkeys(r.item.content for r in summary.results))
    groups = list(dict.fromkeys(r.item.styles for r in summary.results))
    outputs = {(r.item.content, r.item.styles): r.item.output for r in summary.results if r.status != "failed"}
    save_contact_sheet(path, contents, groups, outputs, max_pixels=max_pixels)
