"""All quality scores of a set of samples against the real image, in one record.

Distances (patch SWD, SIFID-style) are per sample and averaged; pixel diversity is over the set;
the copy share is per sample and averaged. Read distances beside diversity and copying: a lower
distance at lower diversity, or with a high copy share, is memorisation, not quality.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from sigctl.metrics.copying import copy_share
from sigctl.metrics.diversity import pixel_diversity
from sigctl.metrics.swd import LEVEL_FACTORS, SWDReference

log = logging.getLogger(__name__)

HOW_TO_READ = (
    "Lower patch SWD and SIFID-style mean samples closer to the training image in patch statistics; "
    "pixel diversity (0 = every sample identical, about 0.5 for SinGAN) says how much samples differ; "
    "copy share is the fraction of a sample pasted verbatim from the training image. "
    "A lower distance bought with lower diversity or a higher copy share is memorisation, not quality."
)


@dataclass
class SampleScore:
    """One sample's scores."""

    swd_levels: list[float | None]
    swd_mean: float | None
    sifid_64: float | None
    sifid_192: float | None
    copy_share: float


@dataclass
class Scores:
    """A set of samples scored against one real image. None: could not be computed (see ``notes``)."""

    num_samples: int
    height: int
    width: int
    swd_levels: list[float | None]  # mean over samples, levels full, /2, /4
    swd_mean: float | None
    sifid_64: float | None
    sifid_192: float | None
    pixel_diversity: float | None
    copy_share: float  # mean over samples
    seconds: float
    per_sample: list[SampleScore] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """The headline numbers, without the per-sample lists (what ``sigctl info`` and the served config show)."""
        values = asdict(self)
        values.pop("per_sample")
        return values

    def as_dict(self) -> dict:
        return asdict(self)


@functools.lru_cache(maxsize=1)
def shared_inception():
    """The Inception network, loaded once per process (about a second)."""
    from sigctl.metrics.sifid import InceptionTaps

    return InceptionTaps()


def score_samples(real: np.ndarray, samples: Sequence[np.ndarray], use_inception: bool | None = None) -> Scores:
    """Score HxWx3 uint8 ``samples`` (one size, at least 2) against the HxWx3 uint8 ``real`` image.

    Args:
        use_inception: True: SIFID-style scores are required (InceptionUnavailable if the weights
            are not installed); False: skipped; None: made when the weights are installed.
    """
    from sigctl.metrics import sifid

    started = time.perf_counter()
    notes: list[str] = []
    network = None
    if use_inception or (use_inception is None and sifid.inception_available()):
        network = shared_inception()
    elif use_inception is None:
        notes.append(f"SIFID-style scores skipped: the Inception weights are not installed ({sifid.INSTALL_HINT})")
    swd_reference = SWDReference(real)
    real_features = network.features(real) if network is not None else None
    per_sample = []
    for sample in samples:
        swd = swd_reference.distance(sample)
        inception = sifid.sifid(real_features, sample, network) if network is not None else {64: None, 192: None}
        per_sample.append(SampleScore(list(swd.levels), swd.mean, inception[64], inception[192], copy_share(real, sample)))
    height, width = np.shape(samples[0])[:2]
    missing = [f"/{factor}" for factor, level in zip(LEVEL_FACTORS, per_sample[0].swd_levels) if level is None]
    sizes = f"the real image is {real.shape[0]}x{real.shape[1]}, the samples {height}x{width}"
    if missing:
        notes.append(f"patch SWD has no level {', '.join(missing)} and so no mean: an image there is under 7x7 px ({sizes})")
    if network is not None and (per_sample[0].sifid_64 is None or per_sample[0].sifid_192 is None):
        taps = [str(c) for c, v in ((64, per_sample[0].sifid_64), (192, per_sample[0].sifid_192)) if v is None]
        notes.append(f"SIFID-style has no {'- and '.join(taps)}-channel score: an image is too small for that tap ({sizes})")
    return Scores(
        num_samples=len(per_sample),
        height=int(height),
        width=int(width),
        swd_levels=[_mean([s.swd_levels[level] for s in per_sample]) for level in range(len(LEVEL_FACTORS))],
        swd_mean=_mean([s.swd_mean for s in per_sample]),
        sifid_64=_mean([s.sifid_64 for s in per_sample]),
        sifid_192=_mean([s.sifid_192 for s in per_sample]),
        pixel_diversity=pixel_diversity(real, samples),
        copy_share=float(np.mean([s.copy_share for s in per_sample])),
        seconds=round(time.perf_counter() - started, 3),
        per_sample=per_sample,
        notes=notes,
    )


def _mean(values: list[float | None]) -> float | None:
    return None if any(value is None for value in values) else float(np.mean(values))
