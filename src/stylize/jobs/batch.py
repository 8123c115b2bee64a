"""Folders of images: make the work list, then stylize each item with one loaded network.

The work list is a sorted, deterministic list of items (content, styles, output), so
``shard`` splits it the same way on every machine. Each item either writes its
output atomically or fails alone; the caller hears about every item through
``on_item`` and gets a summary back.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

from ..config import BATCH_DEFAULTS, DEFAULTS, StylizeConfig
from ..errors import BadInputError, Interrupted, StylizeError, api_name, one_line, opt, render


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
    exception: Optional[BaseException] = None  # why it failed
    notices: list = field(default_factory=list)  # its Result's (a fallback to fp32, a stall)

    def error(self, name: Callable[[str], str] = api_name) -> Optional[str]:
        """The failure as one line, settings named by ``name`` (errors.api_name or errors.cli_flag)."""
        return None if self.exception is None else one_line(self.exception, name)

    def to_json(self, name: Callable[[str], str] = api_name) -> dict:
        return {"content": str(self.item.content), "styles": [str(s) for s in self.item.styles],
                "output": str(self.item.output), "status": self.status, "seconds": round(self.seconds, 3),
                "losses": self.losses, "error": self.error(name), "notices": [render(n, name) for n in self.notices]}


@dataclass
class Summary:
    results: list[ItemResult] = field(default_factory=list)
    interrupted: bool = False
    stopped: bool = False  # StopRun from on_progress: the item in progress was dropped, no more begun

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    def line(self) -> str:
        text = f"{self.count('done')} done, {self.count('skipped')} skipped, {self.count('failed')} failed"
        return text + (" (interrupted)" if self.interrupted else " (stopped)" if self.stopped else "")


# ---------------------------------------------------------------- the work list


# What operating systems leave in folders of photos: Windows' thumbnail caches and folder
# settings, macOS's archive folders (.DS_Store and "._" resource forks start with a dot).
OS_LITTER = frozenset({"thumbs.db", "ehthumbs.db", "ehthumbs_vista.db", "desktop.ini", "__macosx"})


def image_files(folder: Path, recursive: bool = False) -> list[Path]:
    """Every file in ``folder`` (not only known extensions: unreadable ones are reported later),
    but hidden files and folders and the operating system's litter."""
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if p.is_file() and not _litter(p.relative_to(folder)))


def _litter(path: Path) -> bool:
    return any(part.startswith(".") or part.casefold() in OS_LITTER for part in path.parts)


def expand(paths: Sequence[str | os.PathLike], what: str, recursive: bool = False,
           exclude: Sequence[Path] = ()) -> list[Path]:
    """Files and folders on the command line -> a list of files, without those in ``exclude``.

    The style images are excluded from the contents: ``stylize . painting.jpg`` must not
    stylize the painting itself.
    """
    skip = {p.resolve() for p in exclude}
    out = []
    for path in map(Path, paths):
        if path.is_dir():
            found = [p for p in image_files(path, recursive) if p.resolve() not in skip]
            if not found:
                raise BadInputError(f"{what} folder '{path}': no files in it" + (" but the style images" if skip else ""))
            out += found
        elif path.exists():
            out.append(path)
        else:
            raise BadInputError(f"{what} '{path}': file not found")
    return out


def work_list(contents: list[Path], styles: list[Path], out_dir: Path, *, each_style: bool = BATCH_DEFAULTS.each_style,
         name: str = BATCH_DEFAULTS.name, ext: str = BATCH_DEFAULTS.format,
         content_root: Optional[Path] = None) -> list[Item]:
    """The sorted work list. With ``each_style``, one item per (content, style) pair."""
    groups = [(s,) for s in styles] if each_style else [tuple(styles)]
    items = []
    for content in contents:
        for group in groups:
            stem = output_name(name, content, group)
            sub = content.parent.relative_to(content_root) if content_root else Path()
            items.append(Item(content, group, out_dir / sub / f"{stem}.{ext.lstrip('.')}"))
    _check_distinct([i.output for i in items], out_dir)
    return items


def _check_distinct(outputs: list[Path], out_dir: Path) -> None:
    """Refuse two items that would write one file, letter case folded where the disk folds it."""
    folded = {str(o).casefold() for o in outputs}
    fold = len(folded) < len(set(outputs)) and folds_case(out_dir)  # ask the disk only when it matters
    key = (lambda p: str(p).casefold()) if fold else str
    seen: dict[str, Path] = {}
    for output in outputs:
        if key(output) in seen:
            same = "" if seen[key(output)] == output else f" and '{seen[key(output)]}' (one file on this disk)"
            raise BadInputError(f"two items would both write '{output}'{same}; add {{ext}} to the template"
                                " (the content file's extension) or rename one input", "name")
        seen[key(output)] = output


def folds_case(folder: Path) -> bool:
    """Whether names differing only in letter case are one file there (macOS and Windows by default).

    Asked of the disk itself, at the nearest folder that exists: a file named in lower case,
    looked up in upper case. Where nothing can be written, the OS's usual answer.
    """
    existing = next((p for p in (folder, *folder.parents) if p.is_dir()), Path.cwd())
    try:
        fd, probe = tempfile.mkstemp(prefix=".stylize-case-", dir=existing)
    except OSError:
        return sys.platform in ("win32", "darwin")
    os.close(fd)
    try:
        return os.path.exists(os.path.join(existing, os.path.basename(probe).upper()))
    finally:
        os.unlink(probe)


def output_name(template: str, content: Path, styles: tuple[Path, ...]) -> str:
    """The template's {content}, {style} and {ext} filled in for one item."""
    try:
        return template.format(content=content.stem, style="+".join(s.stem for s in styles),
                               ext=content.suffix.lstrip("."))
    except (KeyError, IndexError, ValueError) as e:
        raise BadInputError(f"bad template '{template}' ({one_line(e)}); use {{content}}, {{style}} and {{ext}}",
                            "name") from None


def shard(items: list[Item], spec: Optional[str], environ: Mapping[str, str] = os.environ) -> list[Item]:
    """'K/N' (1-based), 'auto' or 'auto/N': every N-th item starting at K-1. No overlap, no gap across K."""
    if not spec:
        return items
    k, n = parse_shard(spec, environ)
    return items[k - 1 :: n]


def parse_shard(spec: str, environ: Mapping[str, str] = os.environ) -> tuple[int, int]:
    """(K, N) from 'K/N', or from the array job's environment for 'auto' / 'auto/N'."""
    head, _, count = spec.partition("/")
    try:
        n = int(count) if count else None
        k = array_task(environ) if head == "auto" else int(head)
        if n is None:
            if head != "auto":
                raise ValueError
            n = array_size(environ)
    except ValueError:
        raise BadInputError(f"'{spec}' is not K/N (e.g. 2/8), auto or auto/N", "shard") from None
    if not 1 <= k <= n:
        raise BadInputError(f"'{spec}' needs 1 <= K <= N (got K={k}, N={n})", "shard")
    return k, n


def array_task(environ: Mapping[str, str]) -> int:
    """This task's 1-based place in a Slurm job array or a Kubernetes Indexed Job."""
    if "SLURM_ARRAY_TASK_ID" in environ:
        # --array=1-8 gives IDs 1..8, --array=0-15:4 gives 0, 4, 8, 12: count from MIN in STEPs.
        task, low = int(environ["SLURM_ARRAY_TASK_ID"]), int(environ.get("SLURM_ARRAY_TASK_MIN", 0))
        step = int(environ.get("SLURM_ARRAY_TASK_STEP", 1))
        return (task - low) // step + 1
    if "JOB_COMPLETION_INDEX" in environ:  # 0-based
        return int(environ["JOB_COMPLETION_INDEX"]) + 1
    raise BadInputError(f"{opt('shard')} auto: not in an array job (neither SLURM_ARRAY_TASK_ID nor"
                        " JOB_COMPLETION_INDEX is set); give K/N")


def array_size(environ: Mapping[str, str]) -> int:
    """How many tasks the array has, where the environment says (Slurm does; Kubernetes does not)."""
    if "SLURM_ARRAY_TASK_COUNT" in environ:
        return int(environ["SLURM_ARRAY_TASK_COUNT"])
    raise BadInputError(f"{opt('shard')} auto: the array's size is not in the environment"
                        f" (Kubernetes does not set it); give it as {opt('shard')} auto/N, N = the Job's completions")


# ---------------------------------------------------------------- running it


def batch(
    items: list[Item],
    config: StylizeConfig = DEFAULTS,
    *,
    skip_existing: bool = BATCH_DEFAULTS.skip_existing,
    on_item: Optional[Callable[[ItemResult], None]] = None,
    on_progress: Optional[Callable] = None,
    save: Optional[Callable] = None,
    masks: Optional[Sequence] = None,
    style_masks: Optional[Sequence] = None,
) -> Summary:
    """Stylize every item with one network; one item's failure does not stop the rest.

    ``on_progress(item, progress)`` hears every iteration of every item. ``save(result,
    item)`` writes an output (default: ``result.save``, atomic, settings included). Ctrl-C
    stops after nothing is half-written and returns the summary with ``interrupted``;
    StopRun raised by ``on_progress`` does the same with ``stopped``. Either way the item in
    progress is dropped, not saved: a re-run with ``skip_existing`` must not take it as done.
    """
    from ..core.engine import Stylizer

    save = save or (lambda result, item: result.save(item.output))
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
                progress = None if on_progress is None else (lambda p, _item=item: on_progress(_item, p))
                result = stylizer.run(item.content, item.styles, on_progress=progress, masks=masks,
                                      style_masks=style_masks)
                if result.stopped:
                    summary.stopped = True
                    break
                save(result, item)
                outcome = ItemResult(item, "done", time.perf_counter() - started, result.losses,
                                     notices=result.notices)
            except Interrupted:
                raise KeyboardInterrupt from None
            except (StylizeError, RuntimeError, OSError) as e:  # RuntimeError: torch, e.g. out of memory
                if stylizer is None:  # the config or the network is broken: every item would fail
                    raise
                outcome = ItemResult(item, "failed", time.perf_counter() - started, exception=e)
            _record(summary, outcome, on_item)
    except KeyboardInterrupt:  # wherever it landed, the item in progress is dropped, not half-saved
        summary.interrupted = True
    return summary


def _record(summary: Summary, result: ItemResult, on_item) -> None:
    summary.results.append(result)
    if on_item is not None:
        on_item(result)
