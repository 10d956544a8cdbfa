"""Image files in and out, and resizing (Pillow). Arrays: HxWx3 uint8 for files, 3xHxW float32 for networks."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from sigctl.errors import ImageInputError

log = logging.getLogger(__name__)

# Pillow refuses images above ~179 Mpx as possible decompression bombs; we accept up to this many
# pixels and downscale, since a training image is shrunk to a few hundred pixels anyway.
MAX_INPUT_PIXELS = 400_000_000


def load_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB.

    Handles grayscale, palette, 16-bit, CMYK and EXIF-rotated files. Alpha: a fully opaque
    alpha channel is dropped; a partly transparent image is composited over white (with a
    warning), because the networks model RGB only.
    """
    path = Path(path)
    if not path.exists():
        raise ImageInputError(f"{path}: no such file")
    if path.is_dir():
        raise ImageInputError(f"{path} is a directory; give an image file (PNG or JPEG)")
    Image.MAX_IMAGE_PIXELS = MAX_INPUT_PIXELS
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            image.load()
            return _to_rgb_array(image, path)
    except UnidentifiedImageError:
        raise ImageInputError(f"{path} is not an image file Pillow can read; give a PNG or JPEG file") from None
    except Image.DecompressionBombError:
        raise ImageInputError(
            f"{path} has more than {MAX_INPUT_PIXELS} pixels; downscale it first (e.g. to 1000 px on its longer side)"
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageInputError(f"{path} could not be decoded ({error}); the file may be truncated or damaged") from None


def _to_rgb_array(image: Image.Image, path: Path) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale: Pillow's convert("RGB") would clip at 255, so rescale ourselves.
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if values.max() > 255 else 255.0
        grey = np.clip(np.round(values / peak * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if image.mode == "F":
        grey = np.clip(np.round(np.asarray(image) * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
        alpha = rgba[:, :, 3:4] / 255.0
        if alpha.min() < 1.0:
            log.warning("%s is partly transparent; compositing it over white", path)
        rgb = rgba[:, :, :3] * alpha + 255.0 * (1.0 - alpha)
        return np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def save_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write HxWx3 uint8 to a PNG atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        Image.fromarray(rgb).save(temporary, format="PNG")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def resize(chw: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a CxHxW float32 image with antialiased bicubic (Pillow, per channel).

    Used for every pyramid level built from a real image: training, injection and serving alike.
    """
    if chw.shape[1:] == (height, width):
        return chw.astype(np.float32, copy=True)
    channels = [
        np.asarray(Image.fromarray(plane.astype(np.float32), mode="F").resize((width, height), Image.BICUBIC))
        for plane in chw
    ]
    return np.stack(channels).astype(np.float32)
