"""The docs' benchmark tables: what a script prints, also written to a file under docs/benchmarks/.

    python benchmarks/bench.py --table docs/benchmarks/speed-cpu.md --table docs/benchmarks/baseline-cpu.md

The pages quote benchmark figures only by including those files, so a figure is typed once,
by the script that measured it. A file is the script's tables as printed, under one line that
says where they come from (tests/test_benchmark_tables.py checks its form):

    *`python benchmarks/bench.py --size 256` · machine: AMD EPYC 9R14, 2 threads · torch 2.14.1 · recorded 2026-12-04.*

A script adds the options (add_options), prints each table through Tables.print and calls
Tables.write at the end. With one --table FILE every table goes into it; given more, each
table goes to the next FILE and the last one takes the rest. The scripts import this module
by name: running `python benchmarks/NAME.py` puts benchmarks/ on sys.path.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
from pathlib import Path

from _process import ROOT


def machine(device: str) -> str:
    """The machine a benchmark ran on, in a few words: the GPU, or the CPU, its bf16 units and threads."""
    import torch

    from stylize.core.device import cpu_bf16_units, cpu_name, resolve_device

    dev = resolve_device(device)
    if dev.type == "cuda":
        return f"{torch.cuda.get_device_name(dev)} (CUDA)"
    units = cpu_bf16_units()  # torch's own CPU detection, on every OS (no /proc/cpuinfo on macOS or Windows)
    cpu = cpu_name() + (f" (bf16 units: {', '.join(units)})" if units else "")
    return f"{cpu}, {torch.get_num_threads()} threads"


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--table", action="append", default=[], metavar="FILE",
                        help="also write the printed tables to FILE (docs/benchmarks/NAME.md) under a line naming"
                             " the command, machine, torch version and date; repeated: one table per FILE")
    parser.add_argument("--note", default="", help="the --table line's last field, e.g. 'an earlier release'")


def header(command: str, machine: str, torch_version: str, date: datetime.date, note: str = "") -> str:
    """The first line of a table file: where its figures come from."""
    fields = [f"`{command}`", f"machine: {machine}", f"torch {torch_version}", f"recorded {date.isoformat()}"]
    return "*" + " · ".join(fields + ([note.rstrip(".")] if note else [])) + ".*"


def command_line(argv: list[str]) -> str:
    """The command as a reader would type it again: the script from the repository, --table, --note and
    --out (where this machine kept its images) left out."""
    script = Path(argv[0]).resolve()
    shown = script.relative_to(ROOT).as_posix() if script.is_relative_to(ROOT) else script.name
    args, rest = [], iter(argv[1:])
    for arg in rest:
        if arg in ("--table", "--note", "--out"):
            next(rest, None)
        elif not arg.startswith(("--table=", "--note=", "--out=")):
            args.append(arg)
    return shlex.join(["python", shown, *args])


class Tables:
    """The tables a script prints, kept to be written to its --table files."""

    def __init__(self, args: argparse.Namespace, device: str = "auto"):
        self.files, self.note, self.device = [Path(f) for f in args.table], args.note, device
        self.command = command_line(sys.argv)
        self.tables: list[list[str]] = [[]]

    def print(self, text: str = "", *, new_table: bool = False, flush: bool = False) -> None:
        """Print ``text`` (a table, or some of its rows) and keep it; ``new_table``: it starts another table."""
        if new_table and self.tables[-1]:
            self.tables.append([])
        self.tables[-1].append(text + "\n")  # as printed
        print(text, flush=flush)

    def write(self) -> list[Path]:
        """Write each --table file: the header line, then its tables as printed. Returns the files written."""
        if not self.files:
            return []
        import torch

        line = header(self.command, machine(self.device), torch.__version__, datetime.date.today(), self.note)
        tables = ["".join(rows).strip("\n") for rows in self.tables if rows]
        parts = [tables[i:i + 1] for i in range(len(self.files) - 1)] + [tables[len(self.files) - 1:]]
        written = []
        for path, part in zip(self.files, parts):
            if not part:
                print(f"--table {path}: no table left for it, not written", file=sys.stderr)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n\n".join([line, *part]) + "\n")
            written.append(path)
        return written
