"""The job file (YAML or JSON): schema, errors that point at the line, and expansion into items."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sigctl.core.noise import hash32
from sigctl.core.operations import MODE_ANIMATE, MODES
from sigctl.errors import SettingsError


class SizeRange(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

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

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Optional[str] = Field(None, description="Task name, used in item ids and file names [default: taskN].")
    model: Optional[str] = Field(None, description="Served model; optional with --local or a single-model server.")
    mode: str = Field("sample", description=f"One of {', '.join(MODES)}.")
    count: int = Field(ge=1, le=1_000_000, description="Number of items.")
    height: Optional[Size] = Field(None, description="Output height: a number, a list (cycled), or {min, max, step} (picked by seed).")
    width: Optional[Size] = Field(None, description="Output width, as height.")
    seed_start: int = Field(0, ge=0, description="Item i uses seed seed_start + i.")
    start_scale: Optional[int] = Field(None, ge=0, description="Scale noise or the image enters at [default: per mode].")
    image: Optional[Path] = Field(None, description="Injected image (paint, edit, harmonize, super_resolve), relative to the job file.")
    mask: Optional[Path] = Field(None, description="Mask (edit, harmonize), relative to the job file.")
    quantize_colors: int = Field(0, ge=0, le=32, description="paint: colours of the training image to map to (0: off).")
    sr_factor: Optional[float] = Field(None, gt=1.0, le=16.0, description="super_resolve: factor.")
    frames: int = Field(30, ge=2, le=10_000, description="animate: frames per item.")

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, mode: str) -> str:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        return mode

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
    model_config = ConfigDict(frozen=True, extra="forbid")

    output: Path = Field(description="Output folder, relative to the job file; holds the images and manifest.jsonl.")
    naming: str = Field("{task}/{index:06d}_seed{seed}", description="File name pattern (no extension) with {task}, {index}, {seed}, {height}, {width}, {mode}.")
    tasks: list[Task] = Field(min_length=1, description="What to generate.")

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

    def parameters(self) -> dict[str, Any]:
        """What the output depends on (compared on resume, recorded in the manifest)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("id", "task", "index", "file")}


def task_name(task: Task, position: int) -> str:
    return task.name or f"task{position}"


def load_job(path: Path) -> Job:
    """Parse and validate a job file; errors name the field and its line."""
    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"job file {path} does not exist")
    text = path.read_text()
    try:
        raw = yaml.safe_load(text)  # JSON is YAML too
        root = yaml.compose(text)
    except yaml.YAMLError as error:
        raise SettingsError(f"{path} is not valid YAML or JSON: {error}") from None
    if not isinstance(raw, dict):
        raise SettingsError(f"{path} must hold a mapping with 'output' and 'tasks'")
    try:
        job = Job.model_validate(raw)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            location = [part for part in item["loc"] if not isinstance(part, str) or part not in ("int", "list[int]", "SizeRange")]
            line = _line_of(root, location)
            where = ".".join(str(p) for p in location) or "(top level)"
            problems.append(f"line {line}: {where}: {item['msg']}" if line else f"{where}: {item['msg']}")
        raise SettingsError(f"invalid job file {path}: " + "; ".join(problems)) from None
    return job


def _line_of(node, location) -> Optional[int]:
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


def expand(job: Job, job_dir: Path) -> list[Item]:
    """Every item of the job, in a fixed order; ids and files depend only on the job file."""
    items = []
    for position, task in enumerate(job.tasks):
        name = task_name(task, position)
        image = _input_file(task.image, job_dir)
        mask = _input_file(task.mask, job_dir)
        for index in range(task.count):
            seed = task.seed_start + index
            height = _pick(task.height, index, seed, salt=1)
            width = _pick(task.width, index, seed, salt=2)
            extension = ".gif" if task.mode == MODE_ANIMATE else ".png"
            file = job.naming.format(task=name, index=index, seed=seed, height=height, width=width, mode=task.mode) + extension
            items.append(
                Item(f"{name}/{index}", name, index, task.model, task.mode, seed, height, width, task.start_scale,
                     image and image[0], image and image[1], mask and mask[0], mask and mask[1],
                     task.quantize_colors, task.sr_factor, task.frames, file)
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
