"""The README's Options tables say what `stylize --help` says, as a user reads both (section,
default), and --help's defaults are the defaults dataclasses' own."""

import re
from pathlib import Path

from click.testing import CliRunner

from stylize.cli.main import main
from stylize.config import BATCH_DEFAULTS, DEFAULTS
from stylize.jobs.video import VIDEO_DEFAULTS
from stylize.watch.session import WATCH_DEFAULTS

README = Path(__file__).resolve().parents[2] / "README.md"
# Where --help states a rule ("1.0 for lbfgs, 0.02 for adam"), the README gives the value the
# default run uses (vgg19, L-BFGS, one image), which the rule must contain.
RULES = {"--output", "--lr", "--weights", "--style-layers", "--content-layer"}


def readme_options() -> dict[str, tuple[str, str]]:
    """{long option: (section, default cell)} from the README's Options section."""
    text = README.read_text()
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


def help_options() -> dict[str, tuple[str, str]]:
    """{long option: (section, shown default)} from `stylize --help` as printed (one line each)."""
    text = CliRunner().invoke(main, ["--help"], terminal_width=10_000, max_content_width=10_000).output
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


def test_every_option_is_in_the_readme_in_its_help_section_with_its_default():
    readme, shown = readme_options(), help_options()
    assert len(shown) > 50 and sorted(readme) == sorted(shown)
    for option, (section, default) in shown.items():
        assert readme[option][0] == section, option
        cell = readme[option][1]
        if option in RULES:
            assert cell and cell in default, (option, cell, default)
        else:
            assert cell == default, (option, cell, default)


def test_the_readme_check_sees_a_disagreement(monkeypatch):
    text = README.read_text().replace("| `--size` | `512` |", "| `--size` | `1024` |")
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: text)
    assert readme_options()["--size"] == ("Output", "1024") != help_options()["--size"]


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
