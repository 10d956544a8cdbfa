"""What a trained model of the family tells the request path, as plain data: the model interface.

Every model (SinGAN's per-scale residual generators, ConSinGAN's growing feature-space generator,
...) is a chain of *stages*, coarse to fine. A stage takes the state the previous stage left (an RGB
image for SinGAN, 64-channel features for ConSinGAN; nothing at the first stage of some models) and
its unit noise, and returns the next state; a last map turns the final state into RGB. This module
says, for one trained model, what those stages are, so that sampling, every manipulation, export,
the served runtime and the artifact work from it alone:

- the stage sizes and the rule mapping any output size to stage sizes (``PyramidLayout``),
- the noise each stage takes (channels, margin beyond the stage size, one channel repeated or not)
  and its amplitude,
- what enters the first stage run, where an injected image goes, and what the reconstruction path
  feeds each stage,
- the named graphs an export writes (with their inputs and outputs), including an optional
  learned x2 upsampler that high-resolution requests run on the final image,
- the request modes the model answers.

``ModelSpec`` is written into every exported version (``model_spec.json``) and its config, read by
the served runtime and the client. Plain Python (no numpy, torch or pydantic): the serving runtime
imports it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sigctl.core.scales import PyramidLayout
from sigctl.errors import ArtifactError

# What the first stage receives besides its noise.
FirstStageInput = Literal["zeros_state", "nothing"]
# Where an injected image (paint, edit, harmonize) enters: as the state entering the start stage
# (SinGAN), or in place of the first stage's noise (ConSinGAN: later stages carry features, not RGB).
Injection = Literal["state", "first_noise"]
# What the reconstruction path feeds the stages above the first: zeros (SinGAN's z_rec) or fixed
# noise drawn from ``reconstruction_seed`` (ConSinGAN).
ReconstructionNoise = Literal["zeros", "seeded"]

GRAPH_STAGE = "stage"  # (previous state, unit noise) -> state
GRAPH_FIRST_STAGE = "first_stage"  # (unit noise or injected image) -> state
GRAPH_TO_RGB = "to_rgb"  # state -> image in [-1, 1]
GRAPH_UPSAMPLER = "upsampler"  # image (N x 3 x h x w) -> image (N x 3 x 2h x 2w): PetsGAN's learned x2 upsampler
GRAPH_ROLES = (GRAPH_STAGE, GRAPH_FIRST_STAGE, GRAPH_TO_RGB, GRAPH_UPSAMPLER)
UPSAMPLER_FACTOR = 2  # one run of the upsampler graph doubles both sides


@dataclass(frozen=True)
class NoiseSpec:
    """The unit noise one stage takes.

    Attributes:
        channels: channels of the noise tensor.
        margin: px of noise beyond the stage size on each side (ConSinGAN's generation mode feeds its
            unpadded blocks a larger input instead of zero padding).
        shared_channel: one channel repeated over all channels (SinGAN's coarsest scale).
    """

    channels: int
    margin: int = 0
    shared_channel: bool = False

    def shape(self, height: int, width: int) -> tuple[int, int, int]:
        return self.channels, height + 2 * self.margin, width + 2 * self.margin


@dataclass(frozen=True)
class GraphSpec:
    """One exported graph: its file name (without suffix), role, stage and tensor names."""

    name: str
    role: str
    stage: int | None
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class ModelSpec:
    """A trained model as the request path sees it (see the module docstring).

    Attributes:
        model_class: the model's class name (``sigctl.core.models.MODEL_CLASSES``).
        recipe: the recipe that trained it, for messages and reports.
        layout: stage sizes at the training size and the rule for other sizes.
        noises: the noise of each stage.
        noise_amplitudes: what each stage's unit noise is scaled by.
        state_channels: channels of the state between stages.
        first_stage_input: what the first stage gets besides noise.
        injection: where an injected image enters.
        reconstruction_noise: what the reconstruction path feeds stages above the first.
        reconstruction_seed: noise seed of the fixed reconstruction noise when it is ``seeded``.
        modes: the request modes this model answers.
        graphs: the graphs an export writes.
        super_resolution_factor: the factor trained for (SinGAN's super-resolution setting), else None.
    """

    model_class: str
    recipe: str
    layout: PyramidLayout
    noises: tuple[NoiseSpec, ...]
    noise_amplitudes: tuple[float, ...]
    state_channels: int
    first_stage_input: FirstStageInput
    injection: Injection
    reconstruction_noise: ReconstructionNoise
    modes: tuple[str, ...]
    graphs: tuple[GraphSpec, ...]
    reconstruction_seed: int = 0
    super_resolution_factor: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # model-specific facts for reports (never needed to run)

    @property
    def num_stages(self) -> int:
        return self.layout.num_scales

    def stage_graph(self, stage: int) -> GraphSpec:
        for graph in self.graphs:
            if graph.stage == stage and graph.role in (GRAPH_STAGE, GRAPH_FIRST_STAGE):
                return graph
        raise ArtifactError(f"the model spec lists no graph for stage {stage}; export the model again")

    def to_rgb_graph(self) -> GraphSpec | None:
        """The graph mapping the last state to RGB, or None when the state already is the image."""
        return next((graph for graph in self.graphs if graph.role == GRAPH_TO_RGB), None)

    def upsampler_graph(self) -> GraphSpec | None:
        """The learned x2 upsampler that high-resolution requests (UPSCALE 2, 4) run, or None."""
        return next((graph for graph in self.graphs if graph.role == GRAPH_UPSAMPLER), None)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["layout"] = {
            "sizes": [list(size) for size in self.layout.sizes],
            "scale_factor": self.layout.scale_factor,
            "size_rounding": self.layout.size_rounding,
            "stage_scales": None if self.layout.stage_scales is None else list(self.layout.stage_scales),
        }
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelSpec":
        """Read a spec written by ``to_dict``; an ArtifactError says what is wrong with a damaged one."""
        try:
            layout = values["layout"]
            stage_scales = layout.get("stage_scales")
            spec = cls(
                model_class=str(values["model_class"]),
                recipe=str(values["recipe"]),
                layout=PyramidLayout(
                    sizes=tuple((int(h), int(w)) for h, w in layout["sizes"]),
                    scale_factor=float(layout["scale_factor"]),
                    size_rounding=layout["size_rounding"],
                    stage_scales=None if stage_scales is None else tuple(float(s) for s in stage_scales),
                ),
                noises=tuple(NoiseSpec(int(n["channels"]), int(n["margin"]), bool(n["shared_channel"])) for n in values["noises"]),
                noise_amplitudes=tuple(float(a) for a in values["noise_amplitudes"]),
                state_channels=int(values["state_channels"]),
                first_stage_input=values["first_stage_input"],
                injection=values["injection"],
                reconstruction_noise=values["reconstruction_noise"],
                modes=tuple(str(m) for m in values["modes"]),
                graphs=tuple(
                    GraphSpec(str(g["name"]), str(g["role"]), None if g["stage"] is None else int(g["stage"]), tuple(g["inputs"]), tuple(g["outputs"]))
                    for g in values["graphs"]
                ),
                reconstruction_seed=int(values.get("reconstruction_seed", 0)),
                super_resolution_factor=None if values.get("super_resolution_factor") is None else float(values["super_resolution_factor"]),
                extra=dict(values.get("extra") or {}),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ArtifactError(f"the model spec is damaged ({type(error).__name__}: {error}); export the model again") from None
        spec.check()
        return spec

    def check(self) -> None:
        """Internal consistency: one noise and amplitude per stage, a graph per stage, known kinds."""
        problems = []
        if not self.layout.sizes:
            problems.append("no stages")
        if len(self.noises) != self.num_stages or len(self.noise_amplitudes) != self.num_stages:
            problems.append(f"{len(self.noises)} noise specs and {len(self.noise_amplitudes)} amplitudes for {self.num_stages} stages")
        if self.first_stage_input not in ("zeros_state", "nothing") or self.injection not in ("state", "first_noise"):
            problems.append(f"unknown first-stage input {self.first_stage_input!r} or injection {self.injection!r}")
        if self.reconstruction_noise not in ("zeros", "seeded"):
            problems.append(f"unknown reconstruction noise {self.reconstruction_noise!r}")
        if any(graph.role not in GRAPH_ROLES for graph in self.graphs):
            problems.append("a graph of unknown role")
        staged = sorted(graph.stage for graph in self.graphs if graph.role in (GRAPH_STAGE, GRAPH_FIRST_STAGE))
        if staged != list(range(self.num_stages)):
            problems.append(f"stage graphs for stages {staged}, not 0..{self.num_stages - 1}")
        if self.upsampler_graph() is not None and (self.to_rgb_graph() is not None or self.state_channels != 3):
            problems.append("an upsampler on a model whose last state is not the RGB image")
        if self.layout.stage_scales is not None and len(self.layout.stage_scales) != self.num_stages:
            problems.append("stage scales do not match the stages")
        if problems:
            raise ArtifactError(f"the model spec is inconsistent: {'; '.join(problems)}; export the model again")
