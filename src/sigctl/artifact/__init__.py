"""The trained-pyramid artifact: a self-describing run directory, saved and loaded safely."""

from sigctl.artifact.manifest import FORMAT_VERSION, Manifest
from sigctl.artifact.store import Artifact, load, save

__all__ = ["FORMAT_VERSION", "Artifact", "Manifest", "load", "save"]
