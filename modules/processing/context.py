"""`p`: what the generation hooks and scripts see of a running job.

Part of the extension contract: attributes are only added, never renamed or removed.
"""

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


@dataclass
class ProcessingContext:
    request: Any  # the Txt2ImgRequest being run (read-only: change the fields below instead)
    model: Any  # modules.models.loading.LoadedModel: unet, text_encoder, vae, tokenizer, info
    settings: Any  # a SettingsSnapshot: the job's settings frozen at submit; p.settings.get("key")
    models_dir: Any  # pathlib.Path of models/ (Lora/, rembg/, embeddings/ ...)
    prompt: str
    negative_prompt: str
    seed: int = -1  # the base seed, chosen before before_process
    steps: int = 20
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    clip_skip: int | None = None  # None: the CLIP_stop_at_last_layers setting
    extra_generation_params: dict[str, Any] = field(default_factory=dict)  # added to the infotext
    warnings: list[str] = field(default_factory=list)  # shown to the user with the result
    script_args: dict[str, BaseModel] = field(default_factory=dict)  # always-on script title -> args
    # Extra-network tags stripped from the prompts: {"lora": [ExtraNetworkCall, ...]}.
    extra_network_calls: dict[str, list] = field(default_factory=dict)
    # A selectable script's run() calls this to make pictures with the current fields.
    process: Any = None
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
