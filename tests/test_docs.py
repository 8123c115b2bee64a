"""The documentation says what the code does, checked as a reader would use it.

- Every `stylize`, `stylize-train` and `stylize-predict` command shown in README.md and
  docs/ (code blocks and inline code) uses only options the command has, with values its
  types and callbacks accept.
- The options tables (docs/single-image.md) give `--help`'s sections and defaults, and
  `--help`'s defaults are the defaults dataclasses' own. A default stated in the prose
  ("`--max-pixels` (default 100 MP)", "History 100 vectors") is `--help`'s too.
- No figure of a benchmark table (docs/benchmarks/, written by the scripts) is typed again
  in the prose of the pages: they point to the table. A measured figure outside the tables
  (a time, a size, a ratio) is typed on one page only; the others link there.
- Every file of the package has its row on docs/architecture.md, and no row names a file
  that is gone; the import order it draws is the one tests/test_layout.py enforces.
- The Python examples run: each ```python block of the pages, in a folder of tiny images,
  with every run shrunk to 32 px, two iterations and random weights (a second each): what
  is checked is that every name, argument and attribute they use exists and works.
- The site builds with `mkdocs build --strict` (broken links, anchors, includes, pages left
  out of the nav are errors); skipped, saying so, where the docs extra is not installed.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import stylize
from stylize.cli.main import main
from stylize.cli.train import predict, train
from stylize.config import BATCH_DEFAULTS, DEFAULTS, StylizeConfig
from stylize.jobs.video import VIDEO_DEFAULTS, VideoConfig
from stylize.watch.session import WATCH_DEFAULTS

from conftest import make_clip, make_content, make_style

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]  # docs/benchmarks/ holds tables, not commands
OPTIONS_PAGE = DOCS / "single-image.md"
ARCHITECTURE = DOCS / "architecture.md"
PACKAGE = ROOT / "src" / "stylize"
COMMANDS = {"stylize": main, "stylize-train": train, "stylize-predict": predict}


# ---------------------------------------------------------------- commands shown in the pages


def code_blocks(text: str) -> list[tuple[str, str, int]]:
    """(language, body, line of the opening fence) of each fenced block."""
    return [(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1)
            for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.MULTILINE | re.DOTALL)]


def shown_commands(text: str) -> list[tuple[int, list[str]]]:
    """(line, tokens from the command's name on) of every command of ours in ``text``."""
    found = []
    for language, body, line in code_blocks(text):
        if language not in ("", "bash", "sh", "console"):
            continue
        body = body.replace("\\\n", " ")  # continued lines are one command
        for offset, command in enumerate(body.splitlines()):
            found += _command(command.removeprefix("$ "), line + 1 + offset)
    prose = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    for m in re.finditer(r"`(stylize(?:-train|-predict)? [^`]+)`", prose):
        found += _command(m.group(1).replace("\n", " "), text.count("\n", 0, text.index(m.group(0))) + 1)
    return found


def _command(line: str, number: int) -> list[tuple[int, list[str]]]:
    if not any(name in line.split() for name in COMMANDS):
        return []
    tokens = shlex.split(line, comments=True)  # '# Slurm array job' and '#SBATCH' lines are comments
    starts = [i for i, token in enumerate(tokens) if token in COMMANDS]  # `parallel -j4 stylize ...` too
    return [(number, tokens[starts[0]:])] if starts else []


def bad_options(tokens: list[str]) -> list[str]:
    """What is wrong with the options of one command line: unknown ones, values refused."""
    command = COMMANDS[tokens[0]]
    ctx = click.Context(command, info_name=tokens[0], **command.context_settings)
    by_name = {name: p for p in command.params if isinstance(p, click.Option) for name in p.opts + p.secondary_opts}
    by_name.update({name: None for name in ctx.help_option_names})
    wrong, rest = [], iter(tokens[1:])
    for token in rest:
        if not token.startswith("-") or token == "-":
            continue
        name, _, inline = token.partition("=")
        if name not in by_name:
            wrong.append(f"{name}: no such option")
            continue
        param = by_name[name]
        if param is None or param.is_flag or param.count:
            continue
        value = inline or next(rest, None)
        if value is None:
            wrong.append(f"{name}: no value")
        elif not re.search(r"[$<{]", value):  # a placeholder ($TOKEN, {}/4) is the reader's to fill
            try:
                converted = param.type.convert(value, param, ctx)
                if param.callback:
                    param.callback(ctx, param, converted)
            except click.BadParameter as e:
                wrong.append(f"{name} {value}: {e.format_message()}")
    return wrong


def every_shown_command() -> list[tuple[str, int, list[str]]]:
    return [(page.name, line, tokens) for page in PAGES for line, tokens in shown_commands(page.read_text())]


def test_the_pages_show_commands_of_every_kind():
    shown = every_shown_command()
    assert len(shown) > 60, len(shown)
    assert {tokens[0] for _, _, tokens in shown} == set(COMMANDS)
    assert {page for page, _, _ in shown} >= {"README.md", "batch.md", "video.md", "regions.md", "big-outputs.md"}


@pytest.mark.parametrize("page", [p.name for p in PAGES])
def test_every_command_shown_uses_real_options_with_accepted_values(page):
    path = next(p for p in PAGES if p.name == page)
    wrong = [f"{page}:{line}: {' '.join(tokens)}: {problem}"
             for line, tokens in shown_commands(path.read_text()) for problem in bad_options(tokens)]
    assert not wrong, "\n".join(wrong)


def test_the_command_check_sees_a_wrong_option_and_a_wrong_value():
    text = "```\nstylize a.jpg b.jpg --sizes 256\n$ stylize a.jpg b.jpg --size big -o x.png\n```\n" \
           "and `stylize a.jpg b.jpg --style-blend 0.7,x`, `stylize-train data --epoch 3`\n"
    shown = shown_commands(text)
    assert [line for line, _ in shown] == [2, 3, 5, 5]
    problems = [bad_options(tokens) for _, tokens in shown]
    assert problems[0] == ["--sizes: no such option"]
    assert problems[1] == ["--size big: Invalid value for '--size': 'big' is not a valid integer."]
    assert problems[2][0].startswith("--style-blend 0.7,x:")
    assert problems[3] == ["--epoch: no such option"]
    assert bad_options(["stylize", "a", "b", "--shard", "{}/4", "-q", "--max-memory", "6GiB"]) == []


# ---------------------------------------------------------------- the options tables


# Where --help states a rule ("1.0 for lbfgs, 0.02 for adam"), the page gives the value the
# default run uses (vgg19, L-BFGS, one image), which the rule must contain.
RULES = {"--output", "--lr", "--weights", "--style-layers", "--content-layer"}


def page_options() -> dict[str, tuple[str, str]]:
    """{long option: (section, default cell)} from the options page's Options section."""
    text = OPTIONS_PAGE.read_text()
    text = text[text.index("## Options"):]
    text = text[: text.index("\n## ", 1)]
    rows, section = {}, None
    for line in text.splitlines():
        if re.fullmatch(r"\*\*(.+)\*\*", line):
            section = line.strip("*")
        match = re.match(r"\| `([^`]+)` \|\s*([^|]*?)\s*\|", line)
        if match and match.group(1).startswith("-"):
            rows[match.group(1).split(", ")[-1].split()[0]] = (section, match.group(2).strip("`"))
    return rows


def help_options(command: click.Command = main) -> dict[str, tuple[str, str]]:
    """{long option: (section, shown default)} from `stylize --help` (or another command's) as printed."""
    text = CliRunner().invoke(command, ["--help"], terminal_width=10_000, max_content_width=10_000).output
    entries, section = {}, None  # {option: (section, its lines joined)}: a long name puts its help below
    for line in text.splitlines():
        if re.fullmatch(r"\S.*:", line) and not line.startswith("Usage"):
            section = line[:-1]
        match = re.match(r"  (?:-\w, )?(--[\w-]+)", line)
        if match and section:
            option = match.group(1)
            entries[option] = (section, line)
        elif section and entries and line.startswith("    "):
            entries[option] = (section, entries[option][1] + line)
    rows = {}
    for option, (section, entry) in entries.items():
        shown = re.findall(r"\[default: (.*?)(?:; \d+<=x<=\d+)?\]", entry)  # the range is Click's
        rows[option] = (section, shown[-1] if shown else "")
    return rows


def test_every_option_is_on_the_options_page_in_its_help_section_with_its_default():
    page, shown = page_options(), help_options()
    assert len(shown) > 50 and sorted(page) == sorted(shown)
    for option, (section, default) in shown.items():
        assert page[option][0] == section, option
        cell = page[option][1]
        if option in RULES:
            assert cell and cell in default, (option, cell, default)
        else:
            assert cell == default, (option, cell, default)


def test_the_options_check_sees_a_disagreement(monkeypatch):
    text = OPTIONS_PAGE.read_text().replace("| `--size` | `512` |", "| `--size` | `1024` |")
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: text)
    assert page_options()["--size"] == ("Output", "1024") != help_options()["--size"]


def test_help_defaults_are_the_dataclass_defaults():
    given = main.make_context("stylize", ["photo.jpg", "painting.jpg"]).params  # what the command receives
    # --style-layers L:W,... carries two fields: the names and their weights
    assert given.pop("style_layers") == (DEFAULTS.style_layers, DEFAULTS.style_layer_weights)
    checked = 0
    for name, value in given.items():
        for defaults in (DEFAULTS, BATCH_DEFAULTS, WATCH_DEFAULTS, VIDEO_DEFAULTS):
            if hasattr(defaults, name):
                assert value == getattr(defaults, name), name
                checked += 1
    assert checked >= 40, checked


# ---------------------------------------------------------------- defaults stated in the prose


# Statements of a default in the pages' own words: (page, pattern whose group is the value, option).
# The test fails when a statement is gone (update this list) or its value is not the default.
PROSE_DEFAULTS = [
    ("README.md", r"Made with the defaults \((\d+) px", "--size"),
    ("README.md", r"Made with the defaults \(\d+ px, (\w+) VGG19 weights\)", "--weights"),
    ("index.md", r"with its defaults \((\d+) px", "--size"),
    ("index.md", r"with its defaults \(\d+ px, (\w+) VGG19 weights\)", "--weights"),
    ("quickstart.md", r"in Van Gogh's style at (\d+) px", "--size"),
    ("defaults.md", r"style at `(relu\d_1\.\.relu\d_1)`", "--style-layers"),
    ("defaults.md", r"style at `[^`]+`, content at `(\w+)`", "--content-layer"),
    ("defaults.md", r"content at `\w+`, style weight\s+(\d+)\.", "--style-weight"),
    ("defaults.md", r"\(`--coarse-iterations (\d+)`, `--iterations \d+`\)", "--coarse-iterations"),
    ("defaults.md", r"\(`--coarse-iterations \d+`, `--iterations (\d+)`\)", "--iterations"),
    ("defaults.md", r"History (\d+) vectors", "--history"),
    ("defaults.md", r"Plateau tolerance ([\d.]+):", "--tolerance"),
    ("defaults.md", r"(\w+), not Wasserstein, by default", "--style-loss"),
    ("single-image.md", r"(\w+) stays the default", "--style-loss"),
    ("single-image.md", r"step size \(`([\d.]+)` for adam\)", "--lr"),
    ("benchmarks.md", r"L-BFGS remembers (\d+) steps by default", "--history"),
    ("big-outputs.md", r"`--max-memory`,\s+by default ([^)]+)\)", "--max-memory"),
    ("troubleshooting.md", r"memory allowed \(by default ([^)]+)\)", "--max-memory"),
    ("troubleshooting.md", r"The default weights are (\w+);", "--weights"),
    ("video.md", r"Optical flow: OpenCV's (\w+) \([^)]*\) by default", "--flow"),
    ("video.md", r"`--frame-iterations (\d+)` against", "--frame-iterations"),
    ("video.md", r"(\d+) at \d+ iterations was the\s+steadiest setting", "--temporal-weight"),
    ("video.md", r"\d+ at (\d+) iterations was the\s+steadiest setting", "--frame-iterations"),
    ("watching.md", r"The server binds to ([\d.]+) unless `--preview-host`", "--preview-host"),
]
# And the forms any page may use: `--opt` (default V) or (default: V); `--opt V` (the default);
# `--opt` defaults to V; in an options table's row, (default `V`) or (default: V); in a table
# headed by `--opt`, a row's `V` (default) or (vgg19 default).
STATED = [
    re.compile(r"`(--[\w-]+)`[^.;`]{0,40}?\(default:? ([^);]+)[);]"),
    re.compile(r"`(--[\w-]+) ([^`]+)` \(the default\)"),
    re.compile(r"`(--[\w-]+)`[^.;`]{0,40}? defaults to `?([^`,.;)]+)"),
]


def stated_defaults(page: str, text: str) -> list[tuple[int, str, str]]:
    """(line, option, value) of every default the page states: its PROSE_DEFAULTS and the forms of STATED."""
    found = [(m.start(1), option, m.group(1)) for name, pattern, option in PROSE_DEFAULTS if name == page
             for m in re.finditer(pattern, text)]
    found += [(m.start(2), m.group(1), m.group(2)) for form in STATED for m in form.finditer(text)]
    table_option, start = None, 0  # the option a table is about (its header's, or a row's); where the line starts
    for line in text.splitlines(keepends=True):
        cells = line.split("|")
        first = re.fullmatch(r"\s*`(?:-\w, )?(--[\w-]+)`\s*", cells[1]) if len(cells) > 2 else None
        if not line.startswith("|"):
            table_option = None
        elif first and "---" not in line:
            option = first.group(1)
            table_option = table_option or option
            found += [(start + m.start(1), option, m.group(1))  # (default `stylized`), (...; default: what ...)
                      for m in re.finditer(r"default(?:: | `)([^`;)|]+)`?[;)]", line)]
        elif table_option and len(cells) > 2:
            found += [(start + m.start(1), table_option, m.group(1))
                      for m in re.finditer(r"`([^`]+)` \((?:[^)]*\s)?default\)", cells[1])]
        start += len(line)
    return [(text.count("\n", 0, at) + 1, option, value.strip()) for at, option, value in sorted(found)]


def is_the_default(stated: str, shown: str, option: str) -> bool:
    """A stated value against --help's: numbers as numbers (100 MP is 100000000), words as words;
    where --help gives a rule (RULES, "1.0 for lbfgs, 0.02 for adam") the value is one of its."""
    stated = stated.strip("`")
    mega = re.fullmatch(r"([\d.]+) ?MP", stated)
    stated = str(float(mega.group(1)) * 1e6) if mega else stated
    layers = re.fullmatch(r"relu(\d)_1\.\.relu(\d)_1", stated)  # relu1_1..relu4_1
    stated = ",".join(f"relu{i}_1" for i in range(int(layers[1]), int(layers[2]) + 1)) if layers else stated
    try:
        return float(stated) == float(shown)
    except ValueError:
        pass

    def words(text: str) -> str:
        return " ".join(re.findall(r"[\w.]+", text.lower()))

    return words(stated) == words(shown) or (option in RULES and f" {words(stated)} " in f" {words(shown)} ")


def page_commands(page: str) -> list[click.Command]:
    return [train, predict] if page == "transfer-learning.md" else [main]


@pytest.mark.parametrize("page", [p.name for p in PAGES])
def test_every_default_stated_in_the_prose_is_the_real_one(page):
    text = next(p for p in PAGES if p.name == page).read_text()
    shown = {option: default for command in page_commands(page)
             for option, (_, default) in help_options(command).items()}
    wrong = [f"{page}:{line}: {option} {value!r}, but --help says {shown.get(option)!r}"
             for line, option, value in stated_defaults(page, text)
             if option not in shown or not is_the_default(value, shown[option], option)]
    assert not wrong, "\n".join(wrong)


def test_every_statement_of_a_default_listed_is_still_there():
    pages = {p.name: p.read_text() for p in PAGES}
    gone = [f"{page}: {pattern}" for page, pattern, _ in PROSE_DEFAULTS if not re.search(pattern, pages[page])]
    assert not gone, "reworded or removed: update PROSE_DEFAULTS\n" + "\n".join(gone)
    stated = [s for page, text in pages.items() for s in stated_defaults(page, text)]
    assert len(stated) >= 30, len(stated)


def test_the_default_check_sees_a_wrong_default():
    text = ("- `--max-pixels` (default 50 MP) refuses them; `--flow raft` (the default) needs weights.\n"
            "`--size` defaults to 256.\n\n"
            "| `--preserve-color` | what it does |\n|---|---|\n| `luminance` (default) | the photo's colours |\n\n"
            "| `-o, --output` | `out.png` | output file (default `stylized`) |\n")
    stated = stated_defaults("robustness.md", text)
    assert [(option, value) for _, option, value in stated] == [
        ("--max-pixels", "50 MP"), ("--flow", "raft"), ("--size", "256"), ("--preserve-color", "luminance"),
        ("--output", "stylized")]
    shown = {option: default for option, (_, default) in help_options().items()}
    assert [is_the_default(value, shown[option], option) for _, option, value in stated] == [
        False, False, False, False, True]
    assert is_the_default("100 MP", "100000000", "--max-pixels") and is_the_default("DIS", "dis", "--flow")
    assert is_the_default("relu1_1..relu4_1", shown["--style-layers"], "--style-layers")


# ---------------------------------------------------------------- benchmark figures typed once


TABLE_FILES = sorted((DOCS / "benchmarks").glob("*.md"))
# A number and the word after it: 48.2 s, 11,357 MiB, 1.62x, 5.4%, 140 steps (not 2.11 of 2.11.0, not relu4_2's 4)
NUMBER = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?!\.\d)(?:\s?(%|[A-Za-z][\w/]*))?")
UNITS = {"s", "ms", "us", "min", "h", "MiB", "GiB", "MB", "GB", "GFLOP/s", "s/MP", "%", "x"}
# A figure of the prose that equals a table's by chance, and what it is: (page, figure).
COINCIDENCES = {
    ("defaults.md", "43.5"): "Gram's time on the Gram-against-Wasserstein sheet (flicker's table has a 43.5 too)",
    ("defaults.md", "0.391"): "Wasserstein's SSIM on Chelsea x Shipwreck (balance-ssim's relu5_1 column has one)",
    ("benchmarks.md", "2.7"): "an H200 run's s/MP in the GPU notes (phases-cpu's 'outside, in evaluations' has a 2.7)",
    ("video.md", "6.4"): "a later frame's time, at most (phases-cpu's 'outside s' column has a 6.4)",
    ("defaults.md", "9.1"): "a mean luminance step at the border (scaling-cpu-2048's peak error has a -9.1%)",
    ("benchmarks.md", "21.5"): "the system time before freed memory was kept (spread-cpu's trimmed wall has a 21.5)",
    ("defaults.md", "2.9"): "the example pairs' end loss against their start (scaling-cpu-2048-10's kernel has a 2.9%)",
    ("defaults.md", "1.6"): "a schedule's objective gain (scaling-cpu-2048-10's peak error has a -1.6%)",
    ("benchmarks.md", "150"): "the release's estimate under the first fit's at 2048 px (tiling-cpu's wall s has a 150)",
}


def _figure(match: re.Match) -> tuple[str, str]:
    """(the value as written, commas left out; its unit, '' for none or a word that is not one)."""
    unit = match.group(3) or ""
    return match.group(1).replace(",", "") + (match.group(2) or ""), unit if unit in UNITS else ""


def table_figures(files: list[Path] = TABLE_FILES) -> dict[tuple[str, str], set[str]]:
    """{(value, unit): table files} of every number in the tables' rows and notes (not their first lines,
    column titles or the command lines between tables). A cell's unit is often its column's: then ''."""
    found: dict[tuple[str, str], set[str]] = {}
    for path in files:
        lines = path.read_text().splitlines()[1:]
        for i, line in enumerate(lines):
            titles = line.startswith("|") and lines[i + 1:i + 2] and lines[i + 1].startswith("|---")
            if titles or line.startswith("`"):
                continue
            for match in NUMBER.finditer(re.sub(r"`[^`]*`", "", line)):
                value, unit = _figure(match)
                other = match.group(3) and not unit and match.group(3) != "x"  # 140 steps is no 140 GiB
                found.setdefault((value, "other" if other else unit), set()).add(path.name)
    return found


def prose(text: str) -> str:
    """The page with its code, includes and link targets blanked out (line numbers kept)."""
    text = re.sub(r"^```.*?^```", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.MULTILINE | re.DOTALL)
    text = re.sub(r"^--8<--.*$", "", text, flags=re.MULTILINE)
    text = re.sub(r"`[^`]*`", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    return re.sub(r"\]\([^)]*\)", "]()", text)


def retyped_figures(text: str, figures: dict[tuple[str, str], set[str]]) -> list[tuple[int, str, str, list[str]]]:
    """(line, value, unit, table files) of each figure of the prose that a table holds: a decimal
    (0.571, 48.2 s, 5.4%), a number with thousands (11,779) or one of three digits or more with a
    unit (161 s). A table's bare cell takes its column's unit: it matches any but % and x, which
    a table writes in the cell."""
    found = []
    for match in NUMBER.finditer(prose(text)):
        value, unit = _figure(match)
        digits = value.replace(".", "").lstrip("0")
        if len(digits) < 2 or not (match.group(2) or "," in match.group(1) or (len(digits) >= 3 and unit)):
            continue
        tables = sorted(set().union(*(files for (v, u), files in figures.items() if v == value and (
            u == unit or (u == "" and unit not in ("%", "x")) or (unit == "" and u != "other")))))
        if tables:
            found.append((text.count("\n", 0, match.start()) + 1, value, unit, tables))
    return found


@pytest.mark.parametrize("page", [p.name for p in PAGES])
def test_no_figure_of_a_benchmark_table_is_typed_again_in_the_prose(page):
    text = next(p for p in PAGES if p.name == page).read_text()
    retyped = [f"{line}: {value} {unit} (in {', '.join(tables)})"
               for line, value, unit, tables in retyped_figures(text, table_figures())
               if (page, value) not in COINCIDENCES]
    assert not retyped, f"{page}: point to the table (or include it), not its figures:\n" + "\n".join(retyped)


def test_the_figure_check_sees_a_retyped_figure(tmp_path):
    table = tmp_path / "speed.md"
    table.write_text("*`python benchmarks/bench.py` · machine: m · torch 2.14.1 · recorded 2026-12-04.*\n\n"
                     "| run | wall s | peak GiB |\n|---|---|---|\n| default | 48.2 | 1.62 |\n"
                     "| 1024 px | 140 steps | 5.4% |\n| history | 100 | 0.95 |\n")
    figures = table_figures([table])
    text = ("The default run took 48.2 s, 1.62 GiB at its peak; the kernel took 5.4% of the CPU.\n"
            "```\nstylize a.jpg b.jpg  # 48.2 s\n```\n"
            "Not `48.2 s` in code, not 140 GiB (140 steps), not 100% or 0.95x, not torch 2.14.1, not relu4_2.\n"
            '--8<-- "benchmarks/speed.md"\n')
    assert retyped_figures(text, figures) == [(1, "48.2", "s", ["speed.md"]), (1, "1.62", "GiB", ["speed.md"]),
                                              (1, "5.4", "%", ["speed.md"])]
    assert retyped_figures("a 48.20 s run", figures) == []  # another figure


# Figures with a unit that two pages give for two different things: (value, unit): what each is.
SAME_BY_CHANCE = {("1.5", "x"): "batch.md: a batch's speed-up; benchmarks.md: issue 23's target for tiles"}


def test_a_measured_figure_outside_the_tables_is_typed_on_one_page_only():
    """A time, size or ratio not in a table (the venv's 5.9 GB, a test run's 238 s) lives on one
    page; the others link there. Decimals and numbers of three digits, with a unit, % aside."""
    pages: dict[tuple[str, str], set[str]] = {}
    for page in PAGES:
        for match in NUMBER.finditer(prose(page.read_text())):
            value, unit = _figure(match)
            digits = value.replace(".", "").lstrip("0")
            if unit and unit != "%" and len(digits) >= 2 and (match.group(2) or len(digits) >= 3):
                pages.setdefault((value, unit), set()).add(page.name)
    twice = {f"{value} {unit}: {sorted(names)}" for (value, unit), names in pages.items()
             if len(names) > 1 and (value, unit) not in SAME_BY_CHANCE}
    assert not twice, "on several pages (keep it on one, link there from the others):\n" + "\n".join(sorted(twice))


# ---------------------------------------------------------------- the architecture page


def package_files(package: Path = PACKAGE) -> set[str]:
    """Every file of the package as the page names it (core/engine.py), caches left out."""
    return {p.relative_to(package).as_posix() for p in package.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


def architecture_rows(text: str) -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", text, re.MULTILINE))


def test_every_file_of_the_package_has_its_row_on_the_architecture_page():
    files, rows = package_files(), architecture_rows(ARCHITECTURE.read_text())
    assert "core/engine.py" in files and "watch/preview.html" in files
    assert not files - rows, f"missing from docs/architecture.md: {sorted(files - rows)}"
    assert not rows - files, f"docs/architecture.md names files that are gone: {sorted(rows - files)}"


def drawn_order(text: str) -> list[set[str]]:
    """The import order the page draws (cli -> jobs, watch, transfer -> ...), lowest first."""
    line = re.search(r"^cli -> .*$", text, re.MULTILINE).group(0)
    return [{name.strip() for name in rank.split(",")} for rank in reversed(line.split("->"))]


def test_the_architecture_page_draws_the_import_order_test_layout_enforces():
    from test_layout import RANKS  # tests/ is on sys.path, as for conftest

    text = ARCHITECTURE.read_text()
    ranks = sorted(set(RANKS.values()))
    enforced = [{name for name, r in RANKS.items() if r == rank and "." not in name} for rank in ranks]
    assert drawn_order(text) == [names for names in enforced if names]
    intro = text[:text.index("\n## ")]
    for module in (name for name in RANKS if "." in name):  # ranked apart from its subpackage: said above the rows
        assert f"`{module.replace('.', '/')}.py`" in intro, module


def test_the_architecture_check_sees_a_new_module(tmp_path):
    package = tmp_path / "stylize"
    (package / "core").mkdir(parents=True)
    (package / "core" / "engine.py").write_text("")
    (package / "core" / "new.py").write_text("")
    rows = architecture_rows("| file | what |\n|---|---|\n| `core/engine.py` | one stylization |\n")
    assert package_files(package) - rows == {"core/new.py"}


# ---------------------------------------------------------------- the Python examples


TINY = {"size": 32, "min_size": 0, "iterations": 2, "weights": "random"}  # and 2 iterations a later video frame


def python_examples() -> list[tuple[str, str]]:
    return [(f"{page.name}:{line}", body) for page in PAGES
            for language, body, line in code_blocks(page.read_text()) if language == "python"]


def test_the_pages_have_python_examples():
    pages = {name.split(":")[0] for name, _ in python_examples()}
    assert pages >= {"README.md", "quickstart.md", "batch.md", "video.md", "regions.md"}, pages


@pytest.fixture
def example_folder(tmp_path, monkeypatch):
    """A folder holding every file the examples name, as tiny images; runs shrunk to TINY."""
    for name in ("photo.jpg", "sky.jpg"):
        make_content().save(tmp_path / name)
    for name in ("painting.jpg", "a.jpg", "b.jpg", "ground.jpg", "starry_night.jpg"):
        make_style(size=(48, 32)).save(tmp_path / name)
    for name, box in (("sky_mask.png", (0, 0, 48, 16)), ("ground_mask.png", (0, 16, 48, 32))):
        from PIL import Image, ImageDraw

        mask = Image.new("L", (48, 32))
        ImageDraw.Draw(mask).rectangle(box, fill=255)
        mask.save(tmp_path / name)
    (tmp_path / "photos").mkdir()
    make_content().save(tmp_path / "photos" / "one.jpg")
    make_content((32, 48)).save(tmp_path / "photos" / "two.jpg")
    make_clip(tmp_path / "clip.mp4", frames=3)
    monkeypatch.chdir(tmp_path)
    # Every run goes through a Stylizer; the examples' own StylizeConfig(...) calls get the
    # same sizes, so that a video's frames are read at the size the run uses.
    from stylize.core.engine import Stylizer

    real_init = Stylizer.__init__
    monkeypatch.setattr(Stylizer, "__init__", lambda self, config=DEFAULTS, n_styles=1:
                        real_init(self, dataclasses.replace(config, **TINY), n_styles))
    monkeypatch.setattr(stylize, "StylizeConfig", lambda **given: StylizeConfig(**{**given, **TINY}))
    monkeypatch.setattr(stylize, "VideoConfig", lambda **given: VideoConfig(**{**given, "frame_iterations": 2}))
    return tmp_path


@pytest.mark.slow  # a real run each, tiny as it is: a few seconds with torch's start
@pytest.mark.parametrize("where, code", python_examples(), ids=[name for name, _ in python_examples()])
def test_the_python_examples_run(where, code, example_folder, capsys):
    exec(compile(code, where, "exec"), {"__name__": "__example__"})  # noqa: S102 (the docs' own code, run as a reader would)
    made = {p.name for p in example_folder.rglob("*")}
    assert made & {"out.png", "out.mp4", "one__starry_night.jpg"} or capsys.readouterr().out, where


# ---------------------------------------------------------------- the site


def test_the_site_builds_strict(tmp_path):
    for module in ("mkdocs", "material", "mkdocs_click", "mkdocstrings_handlers.python"):
        pytest.importorskip(module, reason=f"{module} is not installed: the docs extra, pip install -e '.[docs]'")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
           "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
                          check=False, capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    built = {p.name for p in (tmp_path / "site").glob("*.html")} - {"404.html"}
    assert built == {p.with_suffix(".html").name for p in DOCS.glob("*.md")}
    assert "mkdocs-click" not in (tmp_path / "site" / "cli.html").read_text()  # the directive was rendered
    assert "--style-weight" in (tmp_path / "site" / "cli.html").read_text()
    assert "StylizeConfig" in (tmp_path / "site" / "api.html").read_text()
