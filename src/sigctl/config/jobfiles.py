"""Reading a job file (YAML or JSON) into a pydantic model, with errors that name the field and its line.

Shared by ``sigctl batch`` and ``sigctl train-many``: the file checks, the parse, the line of each
invalid field, and the refusal of an output folder that holds other files.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any, Optional, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from sigctl.config import describe_yaml_error
from sigctl.errors import SettingsError

M = TypeVar("M", bound=BaseModel)


def naming_pattern_parts(naming: str, fields: tuple[str, ...]) -> list[tuple[str, str | None, str | None, str | None]]:
    """``naming`` parsed as a format string whose fields are all among ``fields`` (ValueError, for pydantic, if not)."""
    try:
        parsed = list(string.Formatter().parse(naming))
    except ValueError as error:
        raise ValueError(f"{naming!r} is not a valid pattern ({error}); write fields as {{{fields[0]}}}, literal braces as {{{{ }}}}") from None
    for _, field_name, _, _ in parsed:
        if field_name is not None and field_name not in fields:
            raise ValueError(f"unknown field {{{field_name}}} in {naming!r}; use {', '.join('{' + f + '}' for f in fields)}")
    return parsed


def read_job_file(path: Path, schema: type[M], needs: str, hidden_locations: tuple[str, ...] = ()) -> tuple[M, Any]:
    """(validated job, YAML node tree for ``line_of``); SettingsError naming each bad field's line.

    ``needs`` says what the top-level mapping must hold (for the message); ``hidden_locations`` are
    union-member names pydantic puts in error locations that are not keys of the file.
    """
    path = Path(path)
    if path.is_dir():
        raise SettingsError(f"{path} is a directory; give the job file (YAML or JSON)")
    if not path.is_file():
        raise SettingsError(f"job file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise SettingsError(f"job file {path} is not UTF-8 text (byte {error.start}); save it as UTF-8 YAML or JSON") from None
    try:
        raw = yaml.safe_load(text)  # JSON is YAML too
        root = yaml.compose(text)
    except yaml.YAMLError as error:
        raise SettingsError(f"{path} is not valid YAML or JSON: {describe_yaml_error(error)}") from None
    if not isinstance(raw, dict):
        raise SettingsError(f"{path} must hold a mapping with {needs}")
    try:
        return schema.model_validate(raw), root
    except ValidationError as error:
        problems = []
        for item in error.errors():
            location = [part for part in item["loc"] if not isinstance(part, str) or part not in hidden_locations]
            line = line_of(root, location)
            where = ".".join(str(p) for p in location) or "(top level)"
            message = item["msg"].removeprefix("Value error, ")
            problems.append(f"line {line}: {where}: {message}" if line else f"{where}: {message}")
        raise SettingsError(f"invalid job file {path}: " + "; ".join(problems)) from None


def refuse_problems(path: Path, root: Any, problems: list[tuple[tuple, str]]) -> None:
    """SettingsError listing (location, message) problems found after validation, with their lines."""
    if problems:
        raise SettingsError(f"invalid job file {path}: " + "; ".join(
            f"line {line_of(root, location)}: {'.'.join(str(p) for p in location)}: {message}" for location, message in problems))


def line_of(node, location) -> Optional[int]:
    """1-based line of the YAML node at ``location`` (or of its nearest existing parent)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in location:
        child = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            child = next((value for key, value in node.value if key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line


def output_folder(output: Path, job_dir: Path) -> Path:
    """The job's output folder, absolute (relative paths are relative to the job file)."""
    return absolute(output if output.is_absolute() else job_dir / output)


def shared_output_problem(output: Path, job_dir: Path) -> Optional[str]:
    """Why ``output`` cannot be a job's own folder (it holds other files), or None."""
    folder = output_folder(output, job_dir)
    if folder == Path(folder.anchor) or folder == absolute(Path.home()) or folder in (absolute(job_dir), *absolute(job_dir).parents):
        return (f"{output} is {folder}, a folder that holds other files (the job file's own, a parent, "
                f"home or /); give a folder of its own, e.g. out")
    return None


def no_tilde(output: Path) -> Path:
    """A pydantic validator body: '~' is not expanded in job files."""
    if str(output).startswith("~"):
        raise ValueError(f"{str(output)!r}: '~' is not expanded; give an absolute path or one relative to the job file")
    return output


def absolute(path: Path) -> Path:
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError) as error:  # a symlink loop raises RuntimeError in Python 3.11
        raise SettingsError(f"{path}: {error}; give a path that resolves") from None
