"""`p`: what the generation hooks and scripts see of a running job.

Part of the extension contract: attributes are only added, never renamed or removed. Each one is
listed below with its type; change the plain fields (prompt, seeds, sizes, ...) to change what is
made, read the rest. `p.process(**overrides)` (scripts) makes pictures again from the untouched
request with some fields changed: see modules/processing/generation.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:  # types only: importing these here would load torch with the contract
    from modules.config.settings import SettingsSnapshot
    from modules.models.discovery import CheckpointInfo
    from modules.models.loading import LoadedModel
    from modules.plugins.types import ExtraNetworkCall
    from modules.processing.request import GenerationRequest
    from modules.processing.result import GenerationResult


@dataclass(frozen=True)
class ModelsFacade:
    """The loaded model's parts, as an extension may read (or patch, then restore) them."""

    loaded: LoadedModel

    @property
    def unet(self):  # diffusers UNet2DConditionModel
        return self.loaded.unet

    @property
    def text_encoder(self):  # transformers CLIPTextModel
        return self.loaded.text_encoder

    @property
    def tokenizer(self):  # transformers CLIPTokenizer
        return self.loaded.tokenizer

    @property
    def vae(self):  # diffusers AutoencoderKL
        return self.loaded.vae

    @property
    def info(self) -> CheckpointInfo:  # name, title, path of the checkpoint
        return self.loaded.info

    @property
    def family(self) -> str:  # "sd1", ...
        return self.loaded.family

    @property
    def short_hash(self) -> str:  # the "Model hash" of the infotext
        return self.loaded.short_hash


@dataclass
class ProcessingContext:
    request: GenerationRequest  # the request being run (frozen: change the fields below instead)
    model: LoadedModel  # the loaded model (unet, text_encoder, vae, tokenizer, info); see `models`
    settings: SettingsSnapshot  # the job's settings frozen at submit: p.settings.get("key")
    models_dir: Path  # models/ (Lora/, rembg/, embeddings/ ...)
    prompt: str  # the prompt after styles; before_process may change it; tags stripped after it
    negative_prompt: str
    seed: int = -1  # the base seed, chosen before before_process
    steps: int = 20
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    clip_skip: int | None = None  # None: the CLIP_stop_at_last_layers setting
    extra_generation_params: dict[str, Any] = field(default_factory=dict)  # infotext key -> value, added
    warnings: list[str] = field(default_factory=list)  # shown to the user with the result
    script_args: dict[str, BaseModel] = field(default_factory=dict)  # always-on script title -> args
    # Extra-network tags stripped from the prompts: {"lora": [ExtraNetworkCall, ...]}.
    extra_network_calls: dict[str, list[ExtraNetworkCall]] = field(default_factory=dict)
    # The core sets a PatchCollector (modules/models/patcher.py) before networks activate; a network
    # adds its weight patches with p.patches.add(...). None outside a job.
    patches: Any = None
    # A selectable script's run() calls p.process(**overrides) to make pictures: each call starts
    # from the untouched request with those request fields changed, e.g. p.process(seed=5).
    process: Callable[..., GenerationResult] | None = None
    # The running job (modules/jobs.Job): `interrupted`, progress; scripts that make many pictures
    # check `p.job.interrupted` between them.
    job: Any = None
    # The engine's upscalers (modules/upscaling: `names()`, `upscale(image, name, scale)`), for
    # scripts that upscale (SD upscale); None on an engine without them.
    upscalers: Any = None
    # The engine (modules/engine.Engine): for built-in scripts that save grids or read settings
    # beyond the job's; extensions should prefer the narrower fields above.
    engine: Any = None
    # Free space for one extension to leave data for its own later hooks: key by your name.
    extension_state: dict[str, Any] = field(default_factory=dict)
    # One entry per image of the job (batch_size x n_iter), as A1111's p has them. Set before the
    # `process` hook, which may replace entries (e.g. one prompt per image); prompts here keep
    # their extra-network tags.
    all_prompts: list[str] = field(default_factory=list)
    all_negative_prompts: list[str] = field(default_factory=list)
    all_seeds: list[int] = field(default_factory=list)
    all_subseeds: list[int] = field(default_factory=list)
    # The current batch's slice, set before `before_process_batch`: prompts without tags, as they
    # are encoded. `prompts` and `seeds` are the lists the batch hooks get; change them in place.
    # A batch shares one negative prompt: its first entry is used (and recorded) for all images.
    iteration: int = 0  # the batch number
    prompts: list[str] = field(default_factory=list)
    negative_prompts: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    subseeds: list[int] = field(default_factory=list)
    # Inpainting: round the latent mask to 0/1 (A1111's default). Set False in `process` (before
    # the init latents are made) to keep the blurred mask's soft edge, as soft inpainting does.
    mask_round: bool = True

    @property
    def models(self) -> ModelsFacade:
        """The loaded model's parts (unet, text_encoder, tokenizer, vae, info, family, short_hash)."""
        return ModelsFacade(self.model)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the first pass."""
        return self.width, self.height
