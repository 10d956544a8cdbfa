"""The train-many job file: schema, line-numbered errors, and expansion into one item per image.

The minimal job is ``output``, ``images`` (files, folders or globs, relative to the job file) and
``preset``; the recipe defaults as ``sigctl train``'s does. Every artifact folder is named by the
job's ``naming`` pattern and checked to stay inside the output folder before anything runs.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sigctl.artifact import files
from sigctl.config import load_settings
from sigctl.config.jobfiles import naming_pattern_parts, no_tilde, output_folder, read_job_file, refuse_problems, shared_output_problem
from sigctl.core.paths import relative_inside
from sigctl.errors import SettingsError

NAMING_FIELDS = ("stem", "index", "parent", "sha8")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
MAX_IMAGES = 100_000  # a glob that matches more is a mistake, not a job


class TrainJob(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    output: Path = Field(strict=False, description="Output root, relative to the job file: one artifact folder per image, and manifest.jsonl.")
    images: list[str] = Field(min_length=1, description="Image files, folders (their images) or globs ('**' recurses), relative to the job file.")
    preset: str = Field("paper", description="Settings preset of the recipe (as sigctl train --preset).")
    recipe: Optional[str] = Field(None, description="Training recipe [default: the config's, else singan, as sigctl train].")
    config: Optional[Path] = Field(None, strict=False, description="YAML settings file merged over the preset, relative to the job file.")
    settings: dict[str, Any] = Field(default_factory=dict, description="Settings merged last (as a config file's mapping).")
    naming: str = Field("{stem}", description="Artifact folder of an image, with {stem}, {index}, {parent} (its folder's name), {sha8}.")

    @field_validator("output")
    @classmethod
    def _no_tilde(cls, output: Path) -> Path:
        return no_tilde(output)

    @field_validator("naming")
    @classmethod
    def _known_fields(cls, naming: str) -> str:
        naming_pattern_parts(naming, NAMING_FIELDS)
        return naming


@dataclass(frozen=True)
class Item:
    """One image to train, and the artifact folder it trains into (relative to the output root)."""

    id: str  # the artifact folder, relative: unique in the job
    index: int
    image: str  # absolute
    image_sha256: str


@dataclass(frozen=True)
class Plan:
    job: TrainJob
    output: Path  # absolute
    settings: dict[str, Any]  # resolved training settings (JSON form), the same for every image
    items: list[Item]


def load_train_job(path: Path) -> Plan:
    """Parse, validate and expand a job file; errors name the field and its line."""
    path = Path(path)
    job, root = read_job_file(path, TrainJob, "'output', 'images' and 'preset'")
    job_dir = path.parent
    problems: list[tuple[tuple, str]] = []
    shared = shared_output_problem(job.output, job_dir)
    if shared:
        problems.append((("output",), shared))
    images: list[Path] = []
    for position, pattern in enumerate(job.images):
        found = _matches(pattern, job_dir)
        if not found:
            problems.append((("images", position), f"{pattern!r} matches no image file ({', '.join(IMAGE_SUFFIXES)}) relative to {job_dir}"))
        images += [image for image in found if image not in images]
    if len(images) > MAX_IMAGES:
        problems.append((("images",), f"the patterns match {len(images)} images, more than {MAX_IMAGES}; split the job"))
    refuse_problems(path, root, problems)
    config = None if job.config is None else (job.config if job.config.is_absolute() else job_dir / job.config)
    overrides = {**job.settings, **({"recipe": job.recipe} if job.recipe else {})}
    settings = load_settings(job.preset, config, overrides).model_dump(mode="json")
    try:
        items = _items(job, images)
    except ValueError as error:
        refuse_problems(path, root, [(("naming",), str(error))])
    return Plan(job, output_folder(job.output, job_dir), settings, items)


def _matches(pattern: str, job_dir: Path) -> list[Path]:
    """Image files a pattern names (a file, a folder's images, or a glob), resolved and sorted."""
    if not pattern:
        return []
    full = Path(pattern).expanduser() if pattern.startswith("~") else job_dir / pattern  # an absolute pattern stays absolute
    if glob.has_magic(pattern):
        candidates = [Path(p) for p in glob.glob(str(full), recursive=True)]
    elif full.is_dir():
        candidates = list(full.iterdir())
    else:
        candidates = [full] if full.is_file() else []
    return sorted({p.resolve() for p in candidates if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES})


def _items(job: TrainJob, images: list[Path]) -> list[Item]:
    """One item per image; ValueError if a name would leave the output folder or repeat."""
    items, seen = [], {}
    for index, image in enumerate(images):
        digest = files.sha256_of(image)
        text = job.naming.format(stem=image.stem, index=index, parent=image.parent.name, sha8=digest[:8])
        try:
            name = str(relative_inside(text))
        except ValueError as error:
            raise ValueError(f"naming {job.naming!r} gives {image} the folder {text!r}, which {error}; folders must stay inside the output folder") from None
        if name in seen:
            raise ValueError(f"naming {job.naming!r} gives {seen[name]} and {image} the same folder {name!r}; add {{parent}} or {{index}}")
        seen[name] = image
        items.append(Item(name, index, str(image), digest))
    return items


def job_record(plan: Plan) -> dict[str, Any]:
    """What makes two jobs the same job for one output root: the training settings and the naming."""
    return {"settings": plan.settings, "naming": plan.job.naming}


def refuse_changed_job(recorded: dict[str, Any], plan: Plan, record_path: Path) -> None:
    current = job_record(plan)
    if recorded != current:
        changed = sorted(key for key in current if recorded.get(key) != current[key]) or ["format"]
        raise SettingsError(
            f"{plan.output} was made by a different job (its {' and '.join(changed)} differ from {record_path}); "
            f"give this job its own output folder, or restore the job that made it"
        )
