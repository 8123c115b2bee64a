"""The benchmark tables the pages include: each file under docs/benchmarks/ says where its
figures come from, in one form, and it is the form the scripts' --table writes
(benchmarks/_tables.py): the tables as the script printed them, under that line.
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TABLE_FILES = sorted((ROOT / "docs" / "benchmarks").glob("*.md"))
SCRIPTS = sorted((ROOT / "benchmarks").glob("[!_]*.py"))

# *`command` (or what was measured) · machine: ... · torch 2.14.1 (or torch: not recorded ...)
#   · recorded 2026-12-04 · notes, if any.*
HEADER = re.compile(r"\*(?P<what>[^·]+?) · machine: (?P<machine>[^·]+?)"
                    r" · torch(?: (?P<torch>\d+\.\d+[\w.+]*)|: not recorded[^·]*)"
                    r" · recorded (?P<date>\d{4}-\d{2}-\d{2})(?: · [^·]+?)?\.\*")


def says_where_from(line: str) -> bool:
    match = HEADER.fullmatch(line)
    if not match:
        return False
    datetime.date.fromisoformat(match["date"])  # a real date
    return True


@pytest.mark.parametrize("path", TABLE_FILES, ids=[p.name for p in TABLE_FILES])
def test_every_table_file_names_its_command_machine_torch_and_date(path):
    first, *rest = path.read_text().splitlines()
    assert says_where_from(first), f"{path.name}: first line is not *what · machine: · torch · recorded DATE*: {first}"
    assert any(line.startswith("|") for line in rest), f"{path.name}: no table under its first line"


def test_the_header_check_sees_a_missing_field():
    good = "*`python benchmarks/bench.py` · machine: a CPU, 2 threads · torch 2.14.1 · recorded 2026-12-04.*"
    assert says_where_from(good)
    assert says_where_from(good.replace("torch 2.14.1", "torch: not recorded (2.14.1 then)"))
    assert says_where_from(good.replace("2026-12-04.*", "2026-12-04 · one run.*"))
    assert not says_where_from(good.replace(" · machine: a CPU, 2 threads", ""))
    assert not says_where_from(good.replace(" · torch 2.14.1", ""))
    assert not says_where_from(good.replace("recorded 2026-12-04", "recorded December"))
    assert not says_where_from(good.removesuffix("*"))


@pytest.fixture
def tables(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import _tables

    return _tables


def test_table_writes_what_the_script_printed_under_its_line(tables, tmp_path, monkeypatch, capsys):
    out = tmp_path / "speed.md"
    monkeypatch.setattr(sys, "argv", [str(ROOT / "benchmarks" / "bench.py"), "--size", "256", "--table", str(out),
                                      "--note=an example"])
    args = argparse.Namespace(table=[str(out)], note="an example")
    kept = tables.Tables(args, "cpu")
    kept.print("| size | s |\n|---|---|\n| 256 | 0.1 |\n\nmatmul roofline: fp32 1\n")
    kept.print("| run | s |\n|---|---|", new_table=True)
    kept.print("| default | 2.0 |", flush=True)
    assert kept.write() == [out]
    first, rest = out.read_text().split("\n", 1)
    assert says_where_from(first), first
    assert first.startswith("*`python benchmarks/bench.py --size 256` · machine: ")
    assert f" · torch {torch.__version__} · recorded {datetime.date.today()} · an example.*" in first
    assert rest == "\n" + capsys.readouterr().out.strip("\n") + "\n"  # the tables as printed


def test_each_table_to_its_own_file_the_last_file_takes_the_rest(tables, tmp_path, capsys):
    files = [tmp_path / "a.md", tmp_path / "b.md"]
    kept = tables.Tables(argparse.Namespace(table=[str(f) for f in files], note=""), "cpu")
    for text in ("| a |\n|---|", "| b |\n|---|", "| c |\n|---|"):
        kept.print(text, new_table=True)
    assert kept.write() == files
    assert files[0].read_text().split("\n\n")[1:] == ["| a |\n|---|\n"]
    assert files[1].read_text().split("\n\n")[1:] == ["| b |\n|---|", "| c |\n|---|\n"]
    nothing = tables.Tables(argparse.Namespace(table=[], note=""), "cpu")
    nothing.print("| a |\n|---|")
    assert nothing.write() == []


def test_the_command_shown_leaves_out_where_the_table_went(tables):
    script = str(ROOT / "benchmarks" / "scaling.py")
    argv = [script, "--sizes", "512,1024", "--table", "a.md", "--table=b.md", "--note", "two words", "--no-tiling"]
    assert tables.command_line(argv) == "python benchmarks/scaling.py --sizes 512,1024 --no-tiling"
    assert tables.command_line(["/elsewhere/mine.py", "--x", "a b"]) == "python mine.py --x 'a b'"


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_every_script_that_prints_a_table_can_write_it_for_the_docs(script):
    source = script.read_text()
    if "|---" not in source:
        return  # prints no markdown table (tune_weights.py: contact sheets and a log)
    assert "add_options(ap)" in source and "Tables(args" in source and ".write()" in source, script.name
