"""Folders of images: plan the work list, then stylize each item with one loaded network.

The plan is a sorted, deterministic list of items (content, styles, output), so
``--shard K/N`` splits it the same way on every machine. Each item either writes its
output atomically or fails alone; the caller hears about every item through
``on_item`` and gets a summary back.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

from .config import DEFAULTS, StylizeConfig
from .errors import BadInputError, Interrupted, StylizeError, one_line

DEFAULT_NAME = "{content}__{style}"


@dataclass
class Item:
    content: Path
    styles: tuple[Path, ...]
    output: Path


@dataclass
class ItemResult:
    item: Item
    status: str  # done | skipped | failed
    seconds: float = 0.0
    losses: Optional[dict] = None
    error: Optional[str] = None

    def to_json(self) -> dict:
        return {"content": str(self.item.content), "styles": [str(s) for s in self.item.styles],
                "output": str(self.item.output), "status": self.status, "seconds": round(self.seconds, 3),
                "losses": self.losses, "error": self.error}


@dataclass
class Summary:
    results: list[ItemResult] = field(default_factory=list)
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    def line(self) -> str:
        text = f"{self.count('done')} done, {self.count('skipped')} skipped, {self.count('failed')} failed"
        return text + (" (interrupted)" if self.interrupted else "")


# ---------------------------------------------------------------- the plan


def image_files(folder: Path, recursive: bool = False) -> list[Path]:
    """Every file in ``folder`` (not only known extensions: unreadable ones are reported later)."""
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith("."))


def expand(paths: Sequence[str | os.PathLike], what: str, recursive: bool = False) -> list[Path]:
    """Files and folders on the command line -> a list of files."""
    out = []
    for path in map(Path, paths):
        if path.is_dir():
            found = image_files(path, recursive)
            if not found:
                raise BadInputError(f"{what} folder '{path}': no files in it")
            out += found
        elif path.exists():
            out.append(path)
        else:
            raise BadInputError(f"{what} '{path}': file not found")
    return out


def plan(contents: list[Path], styles: list[Path], out_dir: Path, *, each_style: bool = False,
         name: str = DEFAULT_NAME, ext: str = "jpg", content_root: Optional[Path] = None) -> list[Item]:
    """The sorted work list. With ``each_style``, one item per (content, style) pair."""
    groups = [(s,) for s in styles] if each_style else [tuple(styles)]
    items = []
    for content in contents:
        for group in groups:
            stem = output_name(name, content, group)
            sub = content.parent.relative_to(content_root) if content_root else Path()
            items.append(Item(content, group, out_dir / sub / f"{stem}.{ext}"))
    outputs = [i.output for i in items]
    if len(set(outputs)) != len(outputs):
        clash = next(o for o in outputs if outputs.count(o) > 1)
        raise BadInputError(f"--name: two items would both write '{clash}'; add {{style}} or {{index}} to the template")
    return items


def output_name(template: str, content: Path, styles: tuple[Path, ...]) -> str:
    try:
        return template.format(content=content.stem, style="+".join(s.stem for s in styles))
    except (KeyError, IndexError, ValueError) as e:
        raise BadInputError(f"--name: bad template '{template}' ({one_line(e)}); use {{content}} and {{style}}") from None


def shard(items: list[Item], spec: Optional[str]) -> list[Item]:
    """'K/N' (1-based): every N-th item starting at K-1. No overlap, no gap across K."""
    if not spec:
        return items
    k, n = parse_shard(spec)
    return items[k - 1 :: n]


def parse_shard(spec: str) -> tuple[int, int]:
    try:
        k, n = (int(v) for v in spec.split("/"))
    except ValueError:
        raise BadInputError(f"--shard: '{spec}' is not K/N (e.g. 2/8)") from None
    if not 1 <= k <= n:
        raise BadInputError(f"--shard: '{spec}' needs 1 <= K <= N")
    return k, n


# ---------------------------------------------------------------- running it


def batch(
    items: list[Item],
    config: StylizeConfig = DEFAULTS,
    *,
    skip_existing: bool = False,
    on_item: Optional[Callable[[ItemResult], None]] = None,
    on_progress: Optional[Callable] = None,
    save: Optional[Callable] = None,
) -> Summary:
    """Stylize every item with one network; one item's failure does not stop the rest.

    ``save(result, item)`` writes an output (default: atomic ``save_image``). Ctrl-C
    stops after nothing is half-written and returns the summary with ``interrupted``.
    """
    from .engine import Stylizer
    from .imageio import save_image

    save = save or (lambda result, item: save_image(result.image, item.output))
    summary = Summary()
    stylizer = None
    try:
        for item in items:
            if skip_existing and item.output.exists():
                _record(summary, ItemResult(item, "skipped"), on_item)
                continue
            started = time.perf_counter()
            try:
                stylizer = stylizer or Stylizer(config, max(len(i.styles) for i in items))
                item.output.parent.mkdir(parents=True, exist_ok=True)
                result = stylizer.run(item.content, item.styles, on_progress=on_progress)
                save(result, item)
                outcome = ItemResult(item, "done", time.perf_counter() - started, result.losses)
            except Interrupted:
                raise KeyboardInterrupt from None
            except (StylizeError, RuntimeError, OSError) as e:  # RuntimeError: torch, e.g. out of memory
                if stylizer is None:  # the config or the network is broken: every item would fail
                    raise
                outcome = ItemResult(item, "failed", time.perf_counter() - started, error=one_line(e))
            _record(summary, outcome, on_item)
    except KeyboardInterrupt:  # wherever it landed, the item in progress is dropped, not half-saved
        summary.interrupted = True
    return summary


def _record(summary: Summary, result: ItemResult, on_item) -> None:
    summary.results.append(result)
    if on_item is not None:
        on_item(result)
