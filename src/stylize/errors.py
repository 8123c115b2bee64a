"""The library's exception types. Only the CLI turns them into exit codes."""

from __future__ import annotations

import re


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


def load_failure(e: Exception) -> str:
    """Why torch.load refused a file, in a few words.

    torch's weights_only refusal is a paragraph about trusting the file; the reason (a bad
    opcode, or a pickled object where tensors were expected) is the exception it wraps.
    """
    reason = one_line(e.__cause__ or e.__context__ or e)
    found = re.match(r"Unsupported global: GLOBAL (\S+)", reason)
    if found:
        return f"it holds a pickled {found.group(1)}, not only tensors"
    return reason
