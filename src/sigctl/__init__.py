"""sigctl: train single-image generative models, export them to Triton, sample them anywhere."""

__version__ = "0.1.0"
