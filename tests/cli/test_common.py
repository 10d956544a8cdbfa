"""The one place commands turn failures into messages: user errors, OS errors on files, bugs."""

import errno

import pytest
import typer

from sigctl.cli.common import INTERNAL_ERROR_EXIT, USER_ERROR_EXIT, command, describe_os_error
from sigctl.errors import SettingsError


def failing(error: BaseException):
    @command
    def run():
        raise error

    return run


def exit_code_and_stderr(function, capsys):
    with pytest.raises(typer.Exit) as stopped:
        function()
    return stopped.value.exit_code, " ".join(capsys.readouterr().err.split())


def test_user_errors_are_one_line_with_exit_2(capsys, monkeypatch):
    monkeypatch.delenv("SIGCTL_DEBUG", raising=False)
    code, err = exit_code_and_stderr(failing(SettingsError("bad [value] here")), capsys)
    assert code == USER_ERROR_EXIT and err == "error: bad [value] here"  # brackets survive (no markup)
    code, err = exit_code_and_stderr(failing(PermissionError(errno.EACCES, "Permission denied", "/data/out.png")), capsys)
    assert code == USER_ERROR_EXIT and err.startswith("error: /data/out.png: Permission denied (check its permissions")


def test_a_bug_is_an_internal_error_and_its_traceback_is_there_on_request(capsys, monkeypatch):
    monkeypatch.delenv("SIGCTL_DEBUG", raising=False)
    code, err = exit_code_and_stderr(failing(ZeroDivisionError("division by zero")), capsys)
    assert code == INTERNAL_ERROR_EXIT
    assert "internal error, please report it: ZeroDivisionError: division by zero" in err and "SIGCTL_DEBUG=1" in err
    code, _ = exit_code_and_stderr(failing(ConnectionResetError(errno.ECONNRESET, "reset")), capsys)  # an OS error about no file
    assert code == INTERNAL_ERROR_EXIT
    monkeypatch.setenv("SIGCTL_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        failing(ZeroDivisionError("division by zero"))()


def test_exits_and_interrupts_pass_through():
    with pytest.raises(typer.Exit) as stopped:
        failing(typer.Exit(1))()
    assert stopped.value.exit_code == 1
    with pytest.raises(KeyboardInterrupt):
        failing(KeyboardInterrupt())()


def test_os_errors_without_a_file_are_user_errors_only_when_they_say_what_to_fix():
    assert describe_os_error(OSError(errno.ENOSPC, "No space left on device")) == "cannot write: no space left on the device"
    assert describe_os_error(OSError(errno.EIO, "Input/output error")) is None
    assert describe_os_error(FileExistsError(errno.EEXIST, "File exists", "a", None, "b")) == "a -> b: File exists (something is already there)"
