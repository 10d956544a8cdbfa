"""Image files in and out (Pillow). Arrays are HxWx3 uint8."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from sigctl.core.paths import temporary_beside
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
    return _read(path, _to_rgb_array)


def load_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a mask file as HxW uint8: the brightest colour channel times alpha.

    Unlike images, masks are not composited over white: a transparent area means "keep", so a
    white-on-transparent mask works as well as white-on-black.
    """

    def brightness_times_alpha(image: Image.Image, _path: Path) -> np.ndarray:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
        return np.round(rgba[:, :, :3].max(axis=2) * rgba[:, :, 3] / 255.0).astype(np.uint8)

    return _read(path, brightness_times_alpha)


def _read(path: str | os.PathLike, convert) -> np.ndarray:
    """Open an image file with one-line errors for every way it can be unusable, then ``convert`` it."""
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
            return convert(image, path)
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
    temporary = temporary_beside(path)
    try:
        Image.fromarray(rgb).save(temporary, format="PNG")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def save_animation(path: str | os.PathLike, frames: np.ndarray, fps: float) -> None:
    """Write FxHxWx3 uint8 frames as a looping GIF, or as H.264 MP4 when the path ends in .mp4.

    MP4 needs the optional imageio-ffmpeg package (``pip install 'sigctl[video]'``), which ships
    an ffmpeg binary.
    """
    path = Path(path)
    if not fps > 0:
        raise ImageInputError(f"frames per second must be above 0, got {fps:g}")
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    temporary = temporary_beside(path)  # keeps the suffix: ffmpeg picks the container by it
    try:
        if suffix == ".gif":
            pictures = [Image.fromarray(frame) for frame in frames]
            pictures[0].save(temporary, format="GIF", save_all=True, append_images=pictures[1:], duration=round(1000 / fps), loop=0)
        elif suffix == ".mp4":
            _write_mp4(temporary, frames, fps)
        else:
            raise ImageInputError(f"{path}: animations are written as .gif or .mp4")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _write_mp4(path: Path, frames: np.ndarray, fps: float) -> None:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise ImageInputError("writing .mp4 needs imageio-ffmpeg: pip install 'sigctl[video]' (or write a .gif)") from None
    height, width = frames.shape[1:3]
    # yuv420p (what players expect) needs even sizes: pad by one edge pixel where odd.
    padded = np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    writer = imageio_ffmpeg.write_frames(str(path), (padded.shape[2], padded.shape[1]), fps=fps, codec="libx264", pix_fmt_out="yuv420p", macro_block_size=1)
    writer.send(None)
    for frame in padded:
        writer.send(np.ascontiguousarray(frame))
    writer.close()

