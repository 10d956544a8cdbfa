"""Bounds on what an evaluation takes, checked before any work."""

from __future__ import annotations

import re

from sigctl.errors import SettingsError

MIN_SAMPLES = 2  # pixel diversity compares samples with each other
MAX_SAMPLES = 200  # about a second per 250 px sample on 2 CPU cores
MIN_SIDE = 16
MAX_SIDE = 1024
MAX_PIXELS = 1024 * 1024  # per image, real or sample: bounds memory and seconds per score
MAX_ASPECT_RATIO = 8


def check_num(num: int) -> int:
    if not MIN_SAMPLES <= num <= MAX_SAMPLES:
        raise SettingsError(f"--num {num} is out of range: score between {MIN_SAMPLES} and {MAX_SAMPLES} samples")
    return num


def parse_size(text: str) -> tuple[int, int]:
    """'HxW' -> (height, width) within the evaluation bounds."""
    match = re.fullmatch(r"\s*(\d{1,6})\s*[xX]\s*(\d{1,6})\s*", text)
    if match is None:
        raise SettingsError(f"--size {text!r} is not HEIGHTxWIDTH in pixels, e.g. 128x192")
    height, width = int(match.group(1)), int(match.group(2))
    check_image_size(height, width, "--size")
    return height, width


def check_image_size(height: int, width: int, what: str) -> None:
    """Refuse sizes an evaluation cannot score sensibly, naming ``what`` (an option or a file)."""
    if min(height, width) < MIN_SIDE or max(height, width) > MAX_SIDE or height * width > MAX_PIXELS:
        raise SettingsError(
            f"{what} is {height}x{width}: scored images need sides of {MIN_SIDE} to {MAX_SIDE} px "
            f"(at most {MAX_PIXELS / 1e6:.1f} Mpx); downscale larger images first"
        )
    if max(height, width) > MAX_ASPECT_RATIO * min(height, width):
        raise SettingsError(f"{what} is {height}x{width}: its longer side may be at most {MAX_ASPECT_RATIO} x the shorter")
