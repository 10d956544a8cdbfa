"""The job file (YAML or JSON): schema, errors that point at the line, and expansion into items.

Types are strict (``height: true`` is an error, not 1). Every output path is built from the job's
text (``naming``, task names), so each planned file is checked to stay inside the output folder
before anything runs; a job that would leave it is refused with the field and its line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sigctl.config.jobfiles import naming_pattern_parts, no_tilde, read_job_file, refuse_problems, shared_output_problem
from sigctl.core.noise import hash32
from sigctl.core.operations import MODE_ANIMATE, MODES
from sigctl.core.paths import relative_inside
from sigctl.errors import SettingsError

NAMING_FIELDS = ("task", "index", "seed", "height", "width", "mode")
MAX_NAME_LENGTH = 128


class SizeRange(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    min: int = Field(ge=1, description="Smallest value, px.")
    max: int = Field(ge=1, description="Largest value, px.")
    step: int = Field(8, ge=1, description="Values are min, min + step, ... <= max.")

    @model_validator(mode="after")
    def _ordered(self) -> "SizeRange":
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self

    def values(self) -> list[int]:
        return list(range(self.min, self.max + 1, self.step))


Size = Union[int, list[int], SizeRange]


class Task(BaseModel):
    """One kind of item: a model, a mode, how many, and their parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    name: Optional[str] = Field(None, description="Task name, used in item ids and file names [default: taskN].")
    model: Optional[str] = Field(None, description="Served model; optional with --local or a single-model server.")
    mode: str = Field("sample", description=f"One of {', '.join(MODES)}.")
    count: int = Field(ge=1, le=1_000_000, description="Number of items.")
    height: Optional[Size] = Field(None, description="Output height: a number, a list (cycled), or {min, max, step} (picked by seed).")
    width: Optional[Size] = Field(None, description="Output width, as height.")
    seed_start: int = Field(0, ge=0, description="Item i uses seed seed_start + i.")
    start_scale: Optional[int] = Field(None, ge=0, description="Scale noise or the image enters at [default: per mode].")
    image: Optional[Path] = Field(None, strict=False, description="Injected image (paint, edit, harmonize, super_resolve, style), relative to the job file.")
    mask: Optional[Path] = Field(None, strict=False, description="Mask (edit, harmonize), relative to the job file.")
    quantize_colors: int = Field(0, ge=0, le=32, description="paint: colours of the training image to map to (0: off).")
    sr_factor: Optional[float] = Field(None, gt=1.0, le=16.0, description="super_resolve: factor.")
    frames: int = Field(30, ge=2, le=10_000, description="animate: frames per item.")
    # sigctl.core.requests.UPSCALES
    upscale: Literal[1, 2, 4] = Field(1, description="sample/animate/style: 2 or 4 runs the model's learned upsampler (PetsGAN) on size / upscale.")

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, mode: str) -> str:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        return mode

    @field_validator("name")
    @classmethod
    def _usable_name(cls, name: Optional[str]) -> Optional[str]:
        # A task name is one folder or file name part ({task} in naming), and part of item ids.
        if name is None:
            return name
        if not name or len(name) > MAX_NAME_LENGTH or name.startswith(".") or any(c in name for c in "/\\") or not name.isprintable():
            raise ValueError(
                f"task name {name!r} is not usable: give 1 to {MAX_NAME_LENGTH} printable characters, "
                f"no '/' or '\\', not starting with '.'"
            )
        return name

    @field_validator("height", "width", mode="before")
    @classmethod
    def _size_shape(cls, size):
        # One message instead of one per union member (number, list, range).
        def whole(value) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        if size is None or whole(size) or isinstance(size, dict) or (isinstance(size, list) and all(whole(v) for v in size)):
            return size
        raise ValueError(f"a size is a whole number of px, a list of them, or {{min: , max: , step: }}; got {size!r}")

    @field_validator("height", "width")
    @classmethod
    def _positive_sizes(cls, size):
        values = [size] if isinstance(size, int) else size if isinstance(size, list) else size.values() if size else []
        if isinstance(size, list) and not size:
            raise ValueError("a list of sizes must not be empty")
        if any(v < 1 for v in values):
            raise ValueError("sizes must be positive")
        return size


class Job(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    output: Path = Field(strict=False, description="Output folder, relative to the job file; holds the images and manifest.jsonl.")
    naming: str = Field("{task}/{index:06d}_seed{seed}", description="File name pattern (no extension) with {task}, {index}, {seed}, {height}, {width}, {mode}.")
    tasks: list[Task] = Field(min_length=1, description="What to generate.")

    @field_validator("output")
    @classmethod
    def _no_tilde(cls, output: Path) -> Path:
        return no_tilde(output)

    @field_validator("naming")
    @classmethod
    def _known_fields(cls, naming: str) -> str:
        for _, _, spec, _ in naming_pattern_parts(naming, NAMING_FIELDS):
            if spec and "{" in spec:
                raise ValueError(f"nested fields in format specs are not supported: {naming!r}")
        return naming

    @model_validator(mode="after")
    def _unique_task_names(self) -> "Job":
        names = [task_name(t, i) for i, t in enumerate(self.tasks)]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"task names must be unique; repeated: {duplicates}")
        return self


@dataclass(frozen=True)
class Item:
    """One output file to make, fully determined by the job file."""

    id: str
    task: str
    index: int
    model: Optional[str]
    mode: str
    seed: int
    height: Optional[int]
    width: Optional[int]
    start_scale: Optional[int]
    image: Optional[str]
    image_sha256: Optional[str]
    mask: Optional[str]
    mask_sha256: Optional[str]
    quantize_colors: int
    sr_factor: Optional[float]
    frames: int
    file: str  # relative to the output folder
    upscale: int = 1

    def parameters(self) -> dict[str, Any]:
        """What the output depends on (compared on resume, recorded in the manifest). An upscale of 1
        is left out, as in manifests written before the option, so those still resume."""
        skipped = ("id", "task", "index", "file") + (("upscale",) if self.upscale == 1 else ())
        return {k: v for k, v in self.__dict__.items() if k not in skipped}


def task_name(task: Task, position: int) -> str:
    return task.name or f"task{position}"


def load_job(path: Path) -> Job:
    """Parse and validate a job file; errors name the field and its line."""
    path = Path(path)
    job, root = read_job_file(path, Job, "'output' and 'tasks'", hidden_locations=("int", "list[int]", "SizeRange"))
    refuse_problems(path, root, _path_problems(job, path.parent))
    return job


def _path_problems(job: Job, job_dir: Path) -> list[tuple[tuple, str]]:
    """(location, message) for every field whose text would put a file outside the output folder."""
    problems = []
    shared = shared_output_problem(job.output, job_dir)
    if shared:
        problems.append((("output",), shared))
    for position, task in enumerate(job.tasks):
        try:
            for _ in _planned_files(job, position, task):
                pass
        except ValueError as error:
            # Task names cannot hold '/' or start with '.' (schema), so a file that leaves is the pattern's doing.
            problems.append((("naming",), str(error)))
    return problems


def _planned_files(job: Job, position: int, task: Task) -> Iterator[tuple[int, int, Optional[int], Optional[int], str]]:
    """(index, seed, height, width, file) of every item of a task; ValueError if a file would leave the output."""
    name = task_name(task, position)
    extension = ".gif" if task.mode == MODE_ANIMATE else ".png"
    for index in range(task.count):
        seed = task.seed_start + index
        height = _pick(task.height, index, seed, salt=1)
        width = _pick(task.width, index, seed, salt=2)
        try:
            text = job.naming.format(task=name, index=index, seed=seed, height=height, width=width, mode=task.mode)
        except (ValueError, TypeError) as error:
            raise ValueError(f"naming {job.naming!r} cannot name item {name}/{index} ({error})") from None
        try:
            file = str(relative_inside(text + extension))
        except ValueError as error:
            raise ValueError(f"naming {job.naming!r} gives item {name}/{index} the file {text + extension!r}, which {error}; "
                             f"files must stay inside the output folder") from None
        yield index, seed, height, width, file


def expand(job: Job, job_dir: Path) -> list[Item]:
    """Every item of the job, in a fixed order; ids and files depend only on the job file."""
    items = []
    for position, task in enumerate(job.tasks):
        name = task_name(task, position)
        image = _input_file(task.image, job_dir)
        mask = _input_file(task.mask, job_dir)
        try:
            planned = list(_planned_files(job, position, task))
        except ValueError as error:  # load_job refuses these; a Job built in code may still have them
            raise SettingsError(str(error)) from None
        for index, seed, height, width, file in planned:
            items.append(
                Item(f"{name}/{index}", name, index, task.model, task.mode, seed, height, width, task.start_scale,
                     image and image[0], image and image[1], mask and mask[0], mask and mask[1],
                     task.quantize_colors, task.sr_factor, task.frames, file, task.upscale)
            )
    files = [item.file for item in items]
    if len(set(files)) != len(files):
        raise SettingsError("the naming pattern gives several items the same file name; include {task} and {index} or {seed}")
    return items


def _pick(size: Optional[Size], index: int, seed: int, salt: int) -> Optional[int]:
    if size is None or isinstance(size, int):
        return size
    if isinstance(size, list):
        return size[index % len(size)]
    values = size.values()
    return values[hash32((seed * 4 + salt) & 0xFFFFFFFF) % len(values)]


def _input_file(path: Optional[Path], job_dir: Path) -> Optional[tuple[str, str]]:
    if path is None:
        return None
    resolved = path if path.is_absolute() else job_dir / path
    if not resolved.is_file():
        raise SettingsError(f"input file {resolved} does not exist")
    return str(resolved), hashlib.sha256(resolved.read_bytes()).hexdigest()
