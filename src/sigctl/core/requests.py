"""Limits on sampling requests and their validation, shared by in-process and served sampling.

Plain Python (no numpy, torch or pydantic) so the serving runtime can import it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sigctl.core.noise import MAX_SEED
from sigctl.core.scales import PyramidLayout, check_request_size
from sigctl.errors import RequestError


@dataclass(frozen=True)
class RequestLimits:
    """Limits that make an absurd request fail fast instead of exhausting memory.

    Attributes:
        min_side: smallest output height or width, px.
        max_pixels: largest height x width of one output image, px.
        max_samples: most images in one request.
        max_frames: most frames in one animation.
    """

    min_side: int = 16
    max_pixels: int = 2048 * 2048
    max_samples: int = 64
    max_frames: int = 240

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def resolve_sample_request(
    layout: PyramidLayout, limits: RequestLimits, num_samples: int, height: int | None, width: int | None, start_scale: int
) -> tuple[int, int]:
    """Validate the size, count and start scale of a request; returns (height, width), defaults filled in."""
    height = layout.finest_size[0] if height is None else height
    width = layout.finest_size[1] if width is None else width
    check_request_size(height, width, limits.min_side, limits.max_pixels)
    check_count(limits, num_samples)
    check_start_scale(layout, start_scale)
    return height, width


def check_count(limits: RequestLimits, num_samples: int) -> None:
    if not 1 <= num_samples <= limits.max_samples:
        raise RequestError(f"number of samples must be between 1 and {limits.max_samples}, got {num_samples}")


def check_seed(seed: int, num_samples: int) -> None:
    """Outputs use seeds seed .. seed + num_samples - 1, all of which must be valid noise seeds."""
    if not 0 <= seed <= MAX_SEED - max(1, num_samples):
        raise RequestError(f"seed must be between 0 and 2**63 - 1 - number of outputs, got {seed}")


def check_start_scale(layout: PyramidLayout, start_scale: int) -> None:
    if not 0 <= start_scale < layout.num_scales:
        raise RequestError(f"start scale {start_scale} is out of range: this pyramid has scales 0..{layout.num_scales - 1}")
