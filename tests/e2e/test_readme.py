"""The README as a newcomer reads it: short, its test command the one CI runs, its links
into docs/ alive. (Its commands and Python example are checked with the pages' in
tests/test_docs.py.)"""

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CI = ROOT / ".ci" / "run"


def quick_start() -> list[str]:
    text = README.read_text()
    block = re.search(r"## Quick start\n+```\n(.*?)```", text, re.DOTALL).group(1)
    return block.splitlines()


def commented(comment: str) -> list[str]:
    """The command of the Quick start line that ends in ``# <comment>``."""
    line = next(line for line in quick_start() if line.rstrip().endswith(f"# {comment}"))
    return shlex.split(line, comments=True)


def ci_command(program: str) -> list[str]:
    """The first command of .ci/run that starts with ``program``, output-only flags left out."""
    for line in CI.read_text().replace("\\\n", " ").splitlines():
        tokens = shlex.split(line, comments=True)
        if tokens[:len(program.split())] == program.split():
            return [t for t in tokens if t not in ("-q", "--quiet")]
    raise AssertionError(f"{CI} runs no {program!r}")


def test_the_readme_is_a_five_minute_read():
    text = README.read_text()
    assert len(text.splitlines()) <= 150 and len(text.split()) <= 1500, (len(text.splitlines()), len(text.split()))


def test_the_test_command_is_the_one_ci_runs():
    assert commented("Test") == ["pytest"]
    assert ci_command("pytest") == commented("Test")
    # CI installs more than the Quick start (the docs extra, for the site's build): the README says what
    install = ci_command("pip install")
    assert install == ["pip", "install", "-e", ".[test,docs]"]
    assert 'after `pip install -e ".[test,docs]"`' in README.read_text()
    assert commented("Install") == ["pip", "install", "-e", ".[test]"]


def slug(heading: str) -> str:
    """The anchor MkDocs (Python-Markdown's toc) gives a heading."""
    text = re.sub(r"[^\w\s-]", "", heading).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def broken_links(text: str, base: Path) -> list[str]:
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"\w+://", target):
            continue
        path, _, anchor = target.partition("#")
        file = (base / path) if path else README
        if not file.exists():
            broken.append(target)
            continue
        headings = re.findall(r"^#+ (.+)$", file.read_text(), re.MULTILINE) if anchor else []
        if anchor and anchor not in {slug(h) for h in headings}:
            broken.append(target)
    return broken


def test_every_link_of_the_readme_leads_somewhere():
    text = README.read_text()
    assert text.count("](docs/") >= 20
    assert broken_links(text, ROOT) == []


def test_the_link_check_sees_a_missing_page_and_anchor():
    text = "[a](docs/nowhere.md) [b](docs/index.md#gallery) [c](docs/index.md#no-such) [d](https://x.org/a)"
    assert broken_links(text, ROOT) == ["docs/nowhere.md", "docs/index.md#no-such"]
