"""The `stylize` command in batch mode: plan, bars, per-item lines, log, summary, grid."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import click

from .batch import ItemResult, Summary, batch, expand, plan
from .batch import shard as take_shard
from .config import StylizeConfig
from .errors import BadInputError


def run_batch(content: str, styles: list[str], output: str, config: StylizeConfig, *, quiet: bool,
              grid: Optional[str], recursive: bool, name: str, ext: str, each_style: bool,
              skip_existing: bool, shard: Optional[str], log: Optional[str], signals) -> int:
    """Returns the exit code: 0 all done, 1 something failed, 130/143 interrupted."""
    from .imageio import check_output, output_format

    contents = expand([content], "content", recursive)
    style_files = expand(styles, "style", recursive=False)
    out_dir = Path(output)
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInputError(f"output '{output}': batch mode writes into a folder, and this is a file")
    ext = ext.lstrip(".")
    output_format(f"probe.{ext}")  # --format: fail now, not after the first image
    if out_dir.is_dir():
        check_output(out_dir / f"probe.{ext}")  # writable? (missing folders are created)
    if grid:
        check_output(grid)
    root = Path(content) if Path(content).is_dir() else None
    everything = plan(contents, style_files, out_dir, each_style=each_style, name=name,
                      ext=ext, content_root=root)
    items = take_shard(everything, shard)
    reporter = _Reporter(len(items), quiet, log)
    try:
        summary = batch(items, config, skip_existing=skip_existing, on_item=reporter.item,
                        on_progress=reporter.step)
    finally:
        reporter.close()
    if grid and not summary.interrupted:
        _grid(grid, summary)
    click.echo(f"{summary.line()} -> {out_dir}", err=quiet and summary.count("failed") > 0)
    if summary.interrupted:
        return signals.code
    return 1 if summary.count("failed") else 0


class _Reporter:
    """Outer bar over items, inner bar over iterations, one line per failure, the JSON log."""

    def __init__(self, total: int, quiet: bool, log: Optional[str]):
        from tqdm import tqdm

        self.quiet = quiet
        self.outer = tqdm(total=total, disable=quiet, unit="img", desc="images", file=sys.stderr, position=0)
        self.inner = tqdm(total=0, disable=quiet, unit="it", leave=False, file=sys.stderr, position=1)
        self.log = open(log, "a", encoding="utf-8") if log else None

    def step(self, progress) -> None:
        if self.inner.total != progress.total:
            self.inner.reset(total=progress.total)
        self.inner.update(progress.step - self.inner.n)

    def item(self, result: ItemResult) -> None:
        self.outer.update(1)
        self.inner.reset()
        if result.status == "failed":
            named = str(result.item.content) in result.error  # the loader's errors name the file
            where = "" if named else f"{result.item.content}: "
            self.outer.write(f"failed: {where}{result.error}", file=sys.stderr)
        if self.log:
            self.log.write(json.dumps(result.to_json()) + "\n")
            self.log.flush()  # a killed batch still leaves a complete log of what it did

    def close(self) -> None:
        self.inner.close()
        self.outer.close()
        if self.log:
            self.log.close()


def _grid(path: str, summary: Summary) -> None:
    from .grid import save_contact_sheet

    contents = list(dict.fromkeys(r.item.content for r in summary.results))
    groups = list(dict.fromkeys(r.item.styles for r in summary.results))
    outputs = {(r.item.content, r.item.styles): r.item.output for r in summary.results if r.status != "failed"}
    save_contact_sheet(path, contents, groups, outputs)
