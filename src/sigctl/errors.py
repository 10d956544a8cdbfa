"""User-facing errors.

Every error a user can cause (a bad file, an absurd size, a damaged artifact) is raised as a
``SigctlError`` whose message says what is wrong and how to fix it. The CLI prints these as one
line; anything else that escapes is a bug and keeps its traceback.
"""


class SigctlError(Exception):
    """Base class of errors caused by input the user can fix."""


class ImageInputError(SigctlError):
    """An input image cannot be read or is unsuitable."""


class SettingsError(SigctlError):
    """Settings, presets or config files are invalid."""


class ArtifactError(SigctlError):
    """A trained-pyramid artifact is missing, damaged or of an unsupported format."""


class RequestError(SigctlError):
    """A sampling request asks for something the model cannot do (size, scale, count)."""


class RunStateError(SigctlError):
    """A training run directory is in a state that does not allow the requested action."""


class RequestCancelled(SigctlError):
    """Work on a request stopped because nobody waits for its answer (the client left or its deadline passed)."""
