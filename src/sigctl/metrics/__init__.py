"""Quality scores for single-image generative models, as DESIGN.md "Quality measures" defines them.

numpy only, except SIFID-style (``sigctl.metrics.sifid``), which runs a TorchScript Inception and
imports torch when it is used.

- ``swd``: patch sliced Wasserstein distance x100 at three levels (how close the patch statistics are)
- ``diversity``: SinGAN's pixel diversity (how much samples differ from each other)
- ``sifid``: SIFID-style Frechet distances of Inception features (64- and 192-channel taps)
- ``copying``: the share of a sample copied verbatim from the training image
- ``scores``: all of them for a set of samples, in one record
"""

from sigctl.metrics.copying import copy_share, find_copies
from sigctl.metrics.diversity import pixel_diversity
from sigctl.metrics.scores import HOW_TO_READ, Scores, score_samples
from sigctl.metrics.swd import PatchSWD, SWDReference, patch_swd

__all__ = ["HOW_TO_READ", "PatchSWD", "SWDReference", "Scores", "copy_share", "find_copies", "patch_swd", "pixel_diversity", "score_samples"]
