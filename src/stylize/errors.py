"""The library's exception types. Only the CLI turns them into exit codes."""

from __future__ import annotations


class StylizeError(Exception):
    """Base class: a failure the user should see as one line, without a traceback."""

    exit_code = 1


class BadInputError(StylizeError):
    """The user's input is wrong: a file, an option value, a layer name (exit 2)."""

    exit_code = 2


class RunError(StylizeError):
    """A well-formed run failed: a download, the device, writing the output (exit 1)."""

    exit_code = 1


class Interrupted(StylizeError):
    """The run was stopped (Ctrl-C); ``image`` is the last finished iterate."""

    exit_code = 130

    def __init__(self, image, step: int):
        super().__init__(f"interrupted at iteration {step}")
        self.image = image
        self.step = step


def one_line(e: BaseException) -> str:
    """The first line of an exception's message: errors are shown as one line."""
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0].strip()
