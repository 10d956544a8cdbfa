"""What every command shares: the console, logging set-up, and turning failures into one line.

Every command is wrapped by ``command``. A failure the user can fix (a ``SigctlError``, or the
operating system refusing a file: permissions, a folder where a file should be, a file that is not
UTF-8 text) is printed as ``error: ...`` with exit code 2. Anything else is a bug: it is reported
as an internal error with exit code 70, and ``SIGCTL_DEBUG=1`` shows its traceback.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
from collections.abc import Callable
from typing import TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.text import Text

from sigctl.errors import SigctlError

console = Console()
error_console = Console(stderr=True)

USER_ERROR_EXIT = 2
INTERNAL_ERROR_EXIT = 70  # EX_SOFTWARE
INTERRUPTED_EXIT = 130
DEBUG_VARIABLE = "SIGCTL_DEBUG"

# OS errors without a file name that still say what the user can fix.
_USER_ERRNOS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded", errno.EROFS: "the filesystem is read-only"}

F = TypeVar("F", bound=Callable)


def command(function: F) -> F:
    """Wrap a command: configure logging, print expected failures as 'error: ...' (exit 2)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        _configure_logging()
        try:
            return function(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except SigctlError as error:
            _fail(str(error), USER_ERROR_EXIT)
        except Exception as error:  # noqa: BLE001 - sorted below: the user's to fix, or a bug said as such
            if os.environ.get(DEBUG_VARIABLE):
                raise
            message = _user_message(error)
            if message is not None:
                _fail(message, USER_ERROR_EXIT)
            _fail(f"internal error, please report it: {type(error).__name__}: {error} (set {DEBUG_VARIABLE}=1 for the traceback)", INTERNAL_ERROR_EXIT)

    return wrapper  # type: ignore[return-value]


def _user_message(error: Exception) -> str | None:
    if isinstance(error, OSError):
        return describe_os_error(error)
    if isinstance(error, UnicodeDecodeError):
        return f"a file is not UTF-8 text ({error.reason} at byte {error.start}); give a UTF-8 text file"
    return None


def describe_os_error(error: OSError) -> str | None:
    """One line for an OS error about a user's file, or None when it is not one (a bug then)."""
    reason = error.strerror or str(error)
    if error.filename is not None:
        target = f"{error.filename} -> {error.filename2}" if error.filename2 is not None else str(error.filename)
        hint = {
            errno.EACCES: "check its permissions or choose another place",
            errno.EPERM: "check its permissions or choose another place",
            errno.EISDIR: "a folder is where a file should be",
            errno.ENOTDIR: "a file is where a folder should be",
            errno.EEXIST: "something is already there",
        }.get(error.errno)
        return f"{target}: {reason}" + (f" ({hint})" if hint else "")
    if error.errno in _USER_ERRNOS:
        return f"cannot write: {_USER_ERRNOS[error.errno]}"
    return None


def _fail(message: str, code: int) -> None:
    # Text, not markup: messages quote user input and lists in brackets, which markup would eat.
    error_console.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)
    raise typer.Exit(code) from None


def _configure_logging() -> None:
    root = logging.getLogger("sigctl")
    if not root.handlers:
        root.addHandler(RichHandler(console=error_console, show_time=False, show_path=False))
        root.setLevel(logging.WARNING)
