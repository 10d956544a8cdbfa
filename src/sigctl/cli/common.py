"""What every command shares: the console, logging set-up, and turning user errors into one line."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler

from sigctl.errors import SigctlError

console = Console()
error_console = Console(stderr=True)

USER_ERROR_EXIT = 2
INTERRUPTED_EXIT = 130

F = TypeVar("F", bound=Callable)


def command(function: F) -> F:
    """Wrap a command: configure logging, and print a SigctlError as 'error: ...' with exit code 2."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        _configure_logging()
        try:
            return function(*args, **kwargs)
        except SigctlError as error:
            error_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(USER_ERROR_EXIT) from None

    return wrapper  # type: ignore[return-value]


def _configure_logging() -> None:
    root = logging.getLogger("sigctl")
    if not root.handlers:
        root.addHandler(RichHandler(console=error_console, show_time=False, show_path=False))
        root.setLevel(logging.WARNING)
