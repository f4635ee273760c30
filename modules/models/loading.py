"""Load a checkpoint fully offline into the parts the engine runs.

Single files are converted by diffusers' own LDM converter, given a local config folder:
either the configs a file carries in its metadata (our own saves) or the carried config of
its detected family. Nothing is ever fetched from a hub.
"""

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors import safe_open

from modules.atomic import write_text_atomic
from modules.models.discovery import CheckpointInfo
from modules.models.hashing import special_files_below

CONFIGS_DIR = Path(__file__).resolve().parent / "configs"
SD1_CONFIG_DIR = CONFIGS_DIR / "sd1"
EMBEDDED_CONFIG_KEY = "sdstudio.diffusers_config"

_SD1_TEXT_KEY = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
_SD1_CONTEXT_KEY = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
_UNET_IN_KEY = "model.diffusion_model.input_blocks.0.0.weight"


class CheckpointLoadError(RuntimeError):
    """A checkpoint that cannot be loaded, with a message meant for the user."""


@dataclass
class LoadedModel:
    info: CheckpointInfo
    sha256: str
    family: str
    unet: Any
    vae: Any
    text_encoder: Any
    tokenizer: Any
    scheduler_config: dict

    @property
    def short_hash(self) -> str:
        return self.sha256[:10]

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        return self.unet.config.in_channels


def load_checkpoint(info: CheckpointInfo, sha256: str, policy, cache_dir: Path) -> LoadedModel:
    if info.is_diffusers_folder:
        parts = _load_diffusers_folder(info.path, policy)
    else:
        parts = _load_single_file(info.path, policy, cache_dir)
    model = LoadedModel(info=info, sha256=sha256, family="sd1", **parts)
    for name in ("unet", "vae", "text_encoder"):
        module = getattr(model, name)
        if module.device != policy.device:
            module = module.to(policy.device)
            setattr(model, name, module)
        module.requires_grad_(False)
        module.eval()
    return model


def _load_diffusers_folder(folder: Path, policy) -> dict:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    # The loaders open whatever file names they expect: a FIFO among them would block the worker
    # forever, a device would never end. Refuse the folder rather than read such a thing.
    special = special_files_below(folder)
    if special:
        raise CheckpointLoadError(
            f"{folder.name}: {special[0].relative_to(folder).as_posix()} is not a regular file; not loaded"
        )

    common = {"local_files_only": True, "torch_dtype": policy.dtype}
    try:
        unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", **common)
        vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", **common)
        text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder", **common)
    except (OSError, ValueError) as error:
        raise CheckpointLoadError(f"{folder.name}: not a loadable diffusers folder ({error})") from error
    tokenizer_dir = (
        folder / "tokenizer" if (folder / "tokenizer" / "vocab.json").is_file() else SD1_CONFIG_DIR / "tokenizer"
    )
    scheduler_file = folder / "scheduler" / "scheduler_config.json"
    if not scheduler_file.is_file():
        scheduler_file = SD1_CONFIG_DIR / "scheduler" / "scheduler_config.json"
    return {
        "unet": unet,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": CLIPTokenizer.from_pretrained(tokenizer_dir),
        "scheduler_config": json.loads(scheduler_file.read_text(encoding="utf-8")),
    }


def _load_single_file(path: Path, policy, cache_dir: Path) -> dict:
    from diffusers import StableDiffusionPipeline

    config_dir = config_folder_for(path, cache_dir)
    try:
        pipe = StableDiffusionPipeline.from_single_file(
            os.fspath(path),
            config=os.fspath(config_dir),
            local_files_only=True,
            safety_checker=None,
            requires_safety_checker=False,
            torch_dtype=policy.dtype,
        )
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise CheckpointLoadError(f"{path.name}: could not be loaded as an SD 1.x checkpoint ({error})") from error
    return {
        "unet": pipe.unet,
        "vae": pipe.vae,
        "text_encoder": pipe.text_encoder,
        "tokenizer": pipe.tokenizer,
        "scheduler_config": dict(pipe.scheduler.config),
    }


def config_folder_for(path: Path, cache_dir: Path) -> Path:
    """The local diffusers config folder that describes a single-file checkpoint."""
    metadata, keys, shapes = read_layout(path)
    if EMBEDDED_CONFIG_KEY in metadata:
        return _materialize_embedded_config(metadata[EMBEDDED_CONFIG_KEY], cache_dir)
    family = detect_family(keys, shapes)
    if family != "sd1":
        raise CheckpointLoadError(f"{path.name}: {family} checkpoints are not supported yet (SD 1.x only)")
    return SD1_CONFIG_DIR


def read_layout(path: Path) -> tuple[dict[str, str], set[str], dict[str, list[int]]]:
    """(metadata, tensor names, the shapes family detection needs) of a single-file checkpoint:
    a .safetensors header, or a pickled .ckpt / .pt / .bin read without running its code."""
    wanted = (_SD1_CONTEXT_KEY, _UNET_IN_KEY)
    if path.suffix.lower() != ".safetensors":
        state = read_pickled_state(path)
        tensors = {key for key, value in state.items() if hasattr(value, "shape")}
        # Our own conversions carry their diffusers configs as a string entry, as .safetensors
        # files carry them in their metadata.
        embedded = state.get(EMBEDDED_CONFIG_KEY)
        metadata = {EMBEDDED_CONFIG_KEY: embedded} if isinstance(embedded, str) else {}
        return metadata, tensors, {key: list(state[key].shape) for key in wanted if key in tensors}
    try:
        with safe_open(os.fspath(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            keys = set(handle.keys())
            shapes = {k: handle.get_slice(k).get_shape() for k in wanted if k in keys}
    except Exception as error:  # safetensors raises its own error types for corrupt headers
        raise CheckpointLoadError(f"{path.name}: not a readable .safetensors file ({error})") from error
    return metadata, keys, shapes


def read_pickled_state(path: Path) -> dict:
    """A pickled checkpoint's entries (its "state_dict" when nested), read with torch's
    weights_only unpickler: a pickle that would import or call anything beyond tensors and
    plain containers is refused before any of it runs. (diffusers reads the file the same way.)"""
    import pickle
    import zipfile

    import torch

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as error:
        wanted = str(error).splitlines()[0] if str(error) else "objects other than tensors"
        raise CheckpointLoadError(
            f"{path.name}: refused: its pickle asks to run code or build objects other than tensors, and pickled "
            f"checkpoints are never executed here ({wanted[:200]}). Use a .safetensors version of it."
        ) from None
    except Exception as error:  # noqa: BLE001 - a truncated or foreign file
        raise CheckpointLoadError(f"{path.name}: not a readable PyTorch checkpoint ({error})") from error
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = {**loaded["state_dict"], **{k: v for k, v in loaded.items() if isinstance(v, str)}}
    if not isinstance(loaded, dict):
        raise CheckpointLoadError(f"{path.name}: holds a {type(loaded).__name__}, not a checkpoint's tensors")
    return loaded


def detect_family(keys: set[str], shapes: dict[str, list[int]]) -> str:
    if any(k.startswith("conditioner.embedders.") for k in keys):
        return "SDXL"
    if any(k.startswith("cond_stage_model.model.") for k in keys):
        return "SD 2.x"
    if _SD1_TEXT_KEY not in keys or _UNET_IN_KEY not in keys:
        return "unknown (no SD 1.x UNet and CLIP text encoder weights found)"
    if shapes.get(_UNET_IN_KEY, [0, 4])[1] != 4:
        return "inpainting (9-channel UNet)"
    if shapes.get(_SD1_CONTEXT_KEY, [0, 768])[1] != 768:
        return "unknown (cross-attention width is not 768)"
    return "sd1"


def _materialize_embedded_config(text: str, cache_dir: Path) -> Path:
    folder = cache_dir / "configs" / hashlib.sha256(text.encode()).hexdigest()[:16]
    if (folder / "model_index.json").is_file():
        return folder
    try:
        return _write_config_folder(text, folder)
    except OSError:  # a full or read-only data dir must not stop a model from loading
        return _write_config_folder(text, Path(tempfile.mkdtemp(prefix="sdstudio-config-")))


def _write_config_folder(text: str, folder: Path) -> Path:
    configs = json.loads(text)
    for part in ("unet", "vae", "text_encoder"):
        write_text_atomic(folder / part / "config.json", json.dumps(configs[part], indent=1))
    for part in ("tokenizer", "scheduler"):
        shutil.copytree(SD1_CONFIG_DIR / part, folder / part, dirs_exist_ok=True)
    # model_index.json last: its presence marks the folder complete.
    write_text_atomic(folder / "model_index.json", (SD1_CONFIG_DIR / "model_index.json").read_text(encoding="utf-8"))
    return folder


def native_resolution(info: CheckpointInfo) -> int:
    """The image side a model was trained at (UNet sample size x VAE stride), read from configs
    only: cheap enough to set the UI's default size without loading weights."""
    try:
        if info.is_diffusers_folder:
            unet = json.loads((info.path / "unet" / "config.json").read_text(encoding="utf-8"))
            vae = json.loads((info.path / "vae" / "config.json").read_text(encoding="utf-8"))
        else:
            # numpy, not "pt": only the header is read, and torch must not load while the page builds.
            with safe_open(os.fspath(info.path), framework="numpy") as handle:
                embedded = (handle.metadata() or {}).get(EMBEDDED_CONFIG_KEY)
            if embedded is None:
                return 512  # SD 1.x
            configs = json.loads(embedded)
            unet, vae = configs["unet"], configs["vae"]
        return int(unet["sample_size"]) * 2 ** (len(vae["block_out_channels"]) - 1)
    except Exception:  # an unreadable header or config: assume SD 1.x, loading will say what is wrong
        return 512
