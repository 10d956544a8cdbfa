"""Image files in and out (Pillow). Arrays are HxWx3 uint8."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from sigctl.core.paths import temporary_beside
from sigctl.core.requests import RequestLimits
from sigctl.errors import ImageInputError

log = logging.getLogger(__name__)

# An image given to a request (paint, edit, harmonize, sr inputs and masks) is refused above this,
# from its header, before decoding: a request accepts no larger image anyway.
MAX_REQUEST_IMAGE_PIXELS = RequestLimits().max_pixels
# A training image may be larger (it is shrunk to max_size while decoding), up to this: 64 Mpx
# decode to ~200 MB, and the limit stays below Pillow's own (89 Mpx), which sigctl never changes.
MAX_TRAINING_PIXELS = 64_000_000
# Modes Pillow cannot average while resizing (palettes and bilevel images it resizes by nearest neighbour).
_RESAMPLE_AS = {"1": "L", "P": "RGBA", "PA": "RGBA", "I;16": "I", "I;16L": "I", "I;16B": "I", "I;16N": "I"}
_ORIENTATION = 0x0112  # EXIF tag; values 5..8 swap width and height
_TRANSPOSING = (5, 6, 7, 8)


def load_rgb(path: str | os.PathLike, max_pixels: int = MAX_REQUEST_IMAGE_PIXELS) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB; a file whose header says more than ``max_pixels`` is
    refused before decoding.

    Handles grayscale, palette, 16-bit, CMYK and EXIF-rotated files. Alpha: a fully opaque
    alpha channel is dropped; a partly transparent image is composited over white (with a
    warning), because the networks model RGB only.
    """
    return _read(path, _to_rgb_array, max_pixels, None)[0]


def load_rgb_shrunk(path: str | os.PathLike, shrink_to: int, max_pixels: int = MAX_TRAINING_PIXELS) -> tuple[np.ndarray, tuple[int, int]]:
    """Like ``load_rgb`` for a caller that needs at most ``shrink_to`` px on the longer side.

    A larger image is shrunk while decoding (JPEG DCT scaling, then an integer box reduction) to
    between 2x and 4x that, never below it, so the caller's own resize does the final filtering.
    Returns the pixels and the (height, width) of the whole image they stand for (after EXIF
    rotation): resize to a size computed from the latter, as a shrunk image's last row or column
    of blocks may be partial.
    """
    return _read(path, _to_rgb_array, max_pixels, shrink_to)


def load_mask(path: str | os.PathLike, max_pixels: int = MAX_REQUEST_IMAGE_PIXELS) -> np.ndarray:
    """Read a mask file as HxW uint8: the brightest colour channel times alpha.

    Unlike images, masks are not composited over white: a transparent area means "keep", so a
    white-on-transparent mask works as well as white-on-black. Never shrunk: a mask must match
    its image exactly.
    """

    def brightness_times_alpha(image: Image.Image, _path: Path) -> np.ndarray:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
        return np.round(rgba[:, :, :3].max(axis=2) * rgba[:, :, 3] / 255.0).astype(np.uint8)

    return _read(path, brightness_times_alpha, max_pixels, None)[0]


def _read(path: str | os.PathLike, convert, max_pixels: int, shrink_to: int | None) -> tuple[np.ndarray, tuple[int, int]]:
    """Open an image file with one-line errors for every way it can be unusable, check its size
    from the header, then decode (shrunk where allowed) and ``convert`` it; also returns the
    whole image's (height, width) after EXIF rotation."""
    path = Path(path)
    if not path.exists():
        raise ImageInputError(f"{path}: no such file")
    if path.is_dir():
        raise ImageInputError(f"{path} is a directory; give an image file (PNG or JPEG)")
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own limit; our per-call limit below is the one that applies.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path)
        with opened as image:
            width, height = image.size  # from the header: nothing is decoded yet
            if width * height > max_pixels:
                raise ImageInputError(_too_large(path, f"is {width}x{height} ({width * height / 1e6:.1f} Mpx)", max_pixels))
            full_size = (width, height) if image.getexif().get(_ORIENTATION, 1) in _TRANSPOSING else (height, width)
            if shrink_to is not None:
                image = _shrink_while_decoding(image, shrink_to)
            image = ImageOps.exif_transpose(image)
            image.load()
            return convert(image, path), full_size
    except UnidentifiedImageError:
        raise ImageInputError(f"{path} is not an image file Pillow can read; give a PNG or JPEG file") from None
    except Image.DecompressionBombError as error:
        raise ImageInputError(_too_large(path, f"is too large to open ({error})", max_pixels)) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageInputError(f"{path} could not be decoded ({error}); the file may be truncated or damaged") from None


def _too_large(path: Path, what: str, max_pixels: int) -> str:
    side = int(max_pixels**0.5)
    return (
        f"{path} {what}; at most {max_pixels} px ({max_pixels / 1e6:.1f} Mpx) are read here: downscale it first, "
        f"e.g. to {side} px on its longer side (convert IN -resize {side}x{side} OUT.png)"
    )


def _shrink_while_decoding(image: Image.Image, shrink_to: int) -> Image.Image:
    """Decode a large image at a few times the needed size. JPEG scales by 1/2..1/8 in the DCT while
    decoding (draft); then an area-averaging (box) resize maps the whole image, exactly its extent,
    onto a grid of about 2x the need (or, after a draft that was enough, of the drafted size).
    Images at most 4x the needed size are decoded as they are."""
    width, height = image.size
    if max(width, height) <= 4 * shrink_to:
        return image
    ratio = 2 * shrink_to / max(width, height)
    size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
    box = None
    if image.format == "JPEG":
        drafted = image.draft(image.mode, size)
        if drafted:
            # The original extent in drafted pixels: a last block may be partial, so cut to it.
            box = drafted[1]
            if max(box[2], box[3]) <= 4 * shrink_to:
                size = (max(1, round(box[2])), max(1, round(box[3])))
    if "transparency" in image.info and image.mode in ("L", "RGB"):
        image = image.convert("RGBA")
    working = _RESAMPLE_AS.get(image.mode, image.mode)
    if working != image.mode:
        image = image.convert(working)
    return image.resize(size, Image.Resampling.BOX, box=box)  # Pillow premultiplies alpha itself


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

