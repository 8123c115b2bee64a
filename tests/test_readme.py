"""The README's options table says what `stylize --help` and StylizeConfig say."""

import re
from pathlib import Path

import click

from stylize.cli.main import main
from stylize.config import BATCH_DEFAULTS, DEFAULTS
from stylize.preview_cli import WATCH_DEFAULTS

README = Path(__file__).resolve().parent.parent / "README.md"
# Options whose default depends on the model (None in the dataclass): the vgg19 value is listed.
RESOLVED = DEFAULTS.resolved()
MODEL_DEPENDENT = {"--style-layers": ",".join(RESOLVED.style_layers), "--content-layer": RESOLVED.content_layer,
                   "--weights": RESOLVED.weights, "--lr": str(RESOLVED.lr), "--style-blend": "equal",
                   "--output": "out.png"}


def _table() -> dict[str, str]:
    """{long option: default cell} from the README's Options table."""
    text = README.read_text()
    section = text[text.index("## Options"):]
    section = section[: section.index("\n## ", 1)]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| `([^`]+)` \|\s*([^|]*?)\s*\|", line)
        if match and match.group(1).startswith("-"):
            long = match.group(1).split(", ")[-1].split()[0]
            rows[long] = match.group(2).strip().strip("`")
    return rows


def _default(param):
    """A click option's default, None where it has none (click 8.2+ says so with a sentinel)."""
    return None if param.default is None or type(param.default).__name__ == "Sentinel" else param.default


def test_every_option_is_in_the_readme_with_its_default():
    table = _table()
    options = {p.opts[-1]: p for p in main.params if isinstance(p, click.Option) and p.opts[-1] not in ("--help", "--version")}
    assert sorted(table) == sorted(options)
    for name, param in options.items():
        if param.is_flag:
            expected = ""
        elif name in MODEL_DEPENDENT:
            expected = MODEL_DEPENDENT[name]
        else:
            expected = "" if _default(param) is None else str(_default(param))
        assert table[name] == expected, name


def test_help_defaults_are_the_dataclass_defaults():
    checked = 0
    for param in main.params:
        for defaults in (DEFAULTS, BATCH_DEFAULTS, WATCH_DEFAULTS):
            if isinstance(param, click.Option) and hasattr(defaults, param.name):
                expected = getattr(defaults, param.name)
                assert (_default(param) or expected) == expected, param.name  # a flag's False is its default too
                checked += 1
    assert checked >= 34
