"""The models a memory probe runs: an architecture's UNet, VAE and text encoder(s) with random
weights, built on the meta device and materialised one small unit at a time (so a cap that fits the
FP8 model never sees the fp32 one), then set up as a configuration asks (attention backend, FP8
weight, token merging, TAESD, offload)."""

import json
from dataclasses import dataclass, field
from types import SimpleNamespace

import torch

from bench.memory_plan import ATTENTION_FLAGS, ProbeConfig

UNIT_PARAMS = 16_000_000  # materialise subtrees up to this many parameters at once (64 MB in fp32)
PROMPT_TOKENS = 77


@dataclass
class Parts:
    arch: str
    unet: torch.nn.Module
    vae: torch.nn.Module
    text_encoders: list = field(default_factory=list)
    taesd: torch.nn.Module | None = None
    dtype: torch.dtype = torch.float32
    device: torch.device = torch.device("cpu")
    offload_holder: object = None  # what the engine's offload hooks were installed through

    def resident_bytes(self) -> int:
        modules = [self.unet, self.vae, *self.text_encoders] + ([self.taesd] if self.taesd is not None else [])
        return sum(t.numel() * t.element_size() for m in modules for t in [*m.parameters(), *m.buffers()])

    @torch.inference_mode()
    def context(self):
        """The CFG pair's text context (2 x 77 x width) and, for SDXL, the pooled output."""
        ids = torch.randint(0, 49407, (2, PROMPT_TOKENS), generator=torch.Generator().manual_seed(0))
        ids = ids.to(self.text_encoders[0].device if self.offload_holder is None else self.device)
        if self.arch != "sdxl":
            return self.text_encoders[0](ids).last_hidden_state.to(self.device, self.dtype), None
        first = self.text_encoders[0](ids, output_hidden_states=True)
        second = self.text_encoders[1](ids, output_hidden_states=True)
        hidden = torch.cat([first.hidden_states[-2], second.hidden_states[-2]], dim=-1)
        return hidden.to(self.device, self.dtype), second.text_embeds.to(self.device, self.dtype)

    @torch.inference_mode()
    def step(self, size: int) -> torch.Tensor:
        """One CFG denoising step at size x size, as the engine's denoiser calls the UNet: both rows in
        one call ("Batch cond/uncond"), one row a call if that runs out of memory; the guided latent."""
        from modules.sampling.row_batching import RowBatching

        context, pooled = self.context()
        side = size // 8
        generator = torch.Generator().manual_seed(size)
        latents = torch.randn(1, 4, side, side, generator=generator).to(self.device, self.dtype)
        extra = {}
        if pooled is not None:
            time_ids = torch.tensor([[size, size, 0, 0, size, size]] * 2, device=self.device, dtype=self.dtype)
            extra["added_cond_kwargs"] = {"text_embeds": pooled, "time_ids": time_ids}
        timestep = torch.tensor(500, device=self.device)
        batching = RowBatching()
        noise = batching.call(self.unet, torch.cat([latents, latents]), timestep, context, extra)
        self.rows_split = batching.fell_back
        uncond, cond = noise.chunk(2)
        return latents - 0.1 * (uncond + 7.0 * (cond - uncond))

    @torch.inference_mode()
    def decode(self, latents: torch.Tensor, config_name: str) -> torch.Tensor:
        config = ProbeConfig.parse(config_name)
        if config.taesd:
            return self.taesd.decode(latents.to(self.taesd.dtype)).sample
        from modules.processing import vae_tiling

        return vae_tiling.decode(self.vae, latents, config.tiling)


def _config(arch: str, part: str) -> dict:
    if arch == "tiny":
        from tests.fixtures import tiny_model

        return {"unet": tiny_model.UNET_CONFIG, "vae": tiny_model.VAE_CONFIG, "text_encoder": tiny_model.TEXT_CONFIG}[
            part
        ]
    from modules.models.loading import SD1_CONFIG_DIR

    folder = SD1_CONFIG_DIR.parent / ("sd1" if arch == "sd15" else "sdxl")
    return json.loads((folder / part / "config.json").read_text())


def build_parts(arch: str, config_name: str, device: torch.device) -> Parts:
    """Random-weight components of `arch`, materialised unit by unit in the compute dtype; with
    FP8 weight each unit of the UNet and text encoders is stored in fp8 as soon as it exists."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = ProbeConfig.parse(config_name)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    store = _fp8_store() if config.fp8 else None  # applied per unit: the fp32 model never exists whole
    torch.manual_seed(0)
    with init_empty_weights(include_buffers=False):
        unet = UNet2DConditionModel.from_config(_config(arch, "unet"))
        vae = AutoencoderKL.from_config(_config(arch, "vae"))
        encoders = [CLIPTextModel(CLIPTextConfig(**_text_config(arch, "text_encoder")))]
        if arch == "sdxl":
            encoders.append(CLIPTextModelWithProjection(CLIPTextConfig(**_text_config(arch, "text_encoder_2"))))
    materialise(unet, dtype, store)
    for module in encoders:
        materialise(module, dtype, store if config.fp8 == "all" else None)
    materialise(vae, dtype, None)  # the VAE stays in the compute dtype, as A1111's FP8 weight leaves it
    parts = Parts(arch, unet.eval(), vae.eval(), [e.eval() for e in encoders], dtype=dtype, device=device)
    if config.taesd:
        from diffusers import AutoencoderTiny

        parts.taesd = AutoencoderTiny().to(dtype).eval()  # its default config is TAESD's architecture
    return parts


def _text_config(arch: str, part: str) -> dict:
    values = dict(_config(arch, part))
    for key in ("_name_or_path", "architectures", "transformers_version", "torch_dtype", "dtype"):
        values.pop(key, None)
    return values


def _fp8_store():
    from modules.models.fp8 import store_weights_fp8  # helper M3's module; absent -> "not available yet"

    return store_weights_fp8


def materialise(root: torch.nn.Module, dtype: torch.dtype, store=None) -> None:
    """Give every meta parameter of `root` real memory and PyTorch's default initialisation, one
    subtree of at most UNIT_PARAMS parameters at a time, storing each in fp8 right away if `store`."""

    def visit(module: torch.nn.Module) -> None:
        children = list(module.children())
        if not children or sum(p.numel() for p in module.parameters()) <= UNIT_PARAMS:
            for sub in module.modules():
                _materialise_own(sub, dtype)
            if store is not None:
                store(module, dtype)
            return
        _materialise_own(module, dtype)
        for child in children:
            visit(child)

    visit(root)


def _materialise_own(module: torch.nn.Module, dtype: torch.dtype) -> None:
    own = list(module.named_parameters(recurse=False))
    if not any(p.is_meta for _, p in own):
        return
    module.to_empty(device="cpu", recurse=False)
    if callable(getattr(module, "reset_parameters", None)):
        module.reset_parameters()
    else:
        for _, param in module.named_parameters(recurse=False):
            torch.nn.init.normal_(param.data, std=0.02)
    module.to(dtype)


def prepare_parts(parts: Parts, config_name: str, device: torch.device) -> None:
    """Attention backend, token merging and where the weights live (device, offload)."""
    from modules.attention import backend_for

    config = ProbeConfig.parse(config_name)
    backend_for(SimpleNamespace(**{ATTENTION_FLAGS[config.attention]: True})).apply(parts)
    if config.tome:
        from modules.sampling.token_merging import apply_token_merging  # helper M4's module

        apply_token_merging(parts.unet, config.tome)
    if config.offload:
        _offload(parts, config.offload, device)
    elif device.type == "cuda":
        for module in (parts.unet, parts.vae, *parts.text_encoders):
            module.to(device)
    if parts.taesd is not None:
        parts.taesd.to(device)


def _offload(parts: Parts, mode: str, device: torch.device) -> None:
    """--medvram / --lowvram as our engine installs them (modules/memory/offload.py: accelerate's
    CPU offload hooks per part; the UNet by blocks with diffusers' group offloading under lowvram)."""
    from modules.memory.offload import apply_offload

    holder = SimpleNamespace(
        text_encoder=parts.text_encoders[0],
        text_encoder_2=parts.text_encoders[1] if len(parts.text_encoders) > 1 else None,
        unet=parts.unet,
        vae=parts.vae,
    )
    apply_offload(holder, mode, device)
    parts.unet, parts.vae = holder.unet, holder.vae
    parts.text_encoders = [e for e in (holder.text_encoder, holder.text_encoder_2) if e is not None]
    parts.offload_holder = holder
