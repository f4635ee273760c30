"""Load a checkpoint fully offline into the parts the engine runs.

Single files are converted by diffusers' own LDM converter, given a local config folder:
either the configs a file carries in its metadata (our own saves) or the carried config of
its detected family. Nothing is ever fetched from a hub.
"""

import hashlib
import inspect
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors import safe_open

from modules.atomic import write_text_atomic
from modules.memory.placement import stamp
from modules.models import families
from modules.models.discovery import CheckpointInfo
from modules.models.hashing import special_files_below

CONFIGS_DIR = Path(__file__).resolve().parent / "configs"
SD1_CONFIG_DIR = CONFIGS_DIR / "sd1"
EMBEDDED_CONFIG_KEY = "sdstudio.diffusers_config"


class CheckpointLoadError(RuntimeError):
    """A checkpoint that cannot be loaded, with a message meant for the user."""


@dataclass
class LoadedModel:
    info: CheckpointInfo
    sha256: str
    family: Any  # modules.models.families.Family (a name is looked up)
    unet: Any
    vae: Any
    text_encoder: Any  # None for the SDXL refiner (bigG only)
    tokenizer: Any
    scheduler_config: dict
    text_encoder_2: Any = None  # SDXL's OpenCLIP bigG
    tokenizer_2: Any = None
    # The file held no VAE weights: `vae` is the family's architecture with untrained weights until a
    # VAE file is applied (the SD VAE setting); generating without one is refused.
    vae_missing: bool = False
    # Where this model's parts compute (the policy's device). Under an offload mode a part's
    # weights may sit elsewhere between uses, so code that makes tensors asks this, never
    # `module.device`.
    execution_device: Any = None
    # The patches (LoRA ...) merged into this model's weights and the originals to restore
    # (modules/models/patcher.ModelPatcher); made here, one per model.
    patcher: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        if isinstance(self.family, str):
            self.family = families.get(self.family)
        from modules.models.patcher import ModelPatcher

        self.patcher = ModelPatcher(self)

    @property
    def short_hash(self) -> str:
        return self.sha256[:10]

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        return self.vae.config.latent_channels

    @property
    def prediction_type(self) -> str:
        return self.scheduler_config.get("prediction_type", "epsilon")

    def text_encoders(self) -> list[tuple[Any, Any, Any]]:
        """(TextEncoderSpec, encoder, tokenizer) of each of the family's text encoders, in order."""
        return [(spec, getattr(self, spec.attribute), getattr(self, spec.tokenizer)) for spec in self.family.encoders]

    def modules(self) -> dict[str, Any]:
        """The torch modules by part name (a missing encoder left out)."""
        parts = {"unet": self.unet, "vae": self.vae, "text_encoder": self.text_encoder,
                 "text_encoder_2": self.text_encoder_2}  # fmt: skip
        return {name: module for name, module in parts.items() if module is not None}


def load_checkpoint(info: CheckpointInfo, sha256: str, policy, cache_dir: Path) -> LoadedModel:
    if info.is_diffusers_folder:
        family, parts = _load_diffusers_folder(info.path, policy)
        declared = (info.path / "scheduler" / "scheduler_config.json").is_file()
    else:
        family, parts, declared = _load_single_file(info.path, policy, cache_dir)
    model = LoadedModel(info=info, sha256=sha256, family=family, execution_device=policy.device, **parts)
    for name, module in model.modules().items():
        # Under an offload mode a part rests in RAM and is brought to the device per use: it is
        # never put on the device whole here (that would defeat --lowvram for a model that does
        # not fit); the memory manager installs the hooks once the model is loaded.
        resting = policy.storage_device(name, family.name)
        if module.device != resting:
            module = module.to(resting)
            setattr(model, name, module)
        stamp(module, policy.execution_device(name))
        module.requires_grad_(False)
        module.eval()
    if family.name == "sd2" and not declared:
        from modules.models.prediction_probe import predicts_v

        if predicts_v(model.unet):  # A1111's test: the file does not say, the UNet is asked once
            model.scheduler_config["prediction_type"] = "v_prediction"
    return model


def _load_diffusers_folder(folder: Path, policy) -> tuple:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    # The loaders open whatever file names they expect: a FIFO among them would block the worker
    # forever, a device would never end. Refuse the folder rather than read such a thing.
    special = special_files_below(folder)
    if special:
        raise CheckpointLoadError(
            f"{folder.name}: {special[0].relative_to(folder).as_posix()} is not a regular file; not loaded"
        )
    family = folder_family(folder)
    common = {"local_files_only": True, "torch_dtype": policy.dtype}
    parts: dict[str, Any] = {"text_encoder": None, "tokenizer": None}
    try:
        parts["unet"] = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", **common)
        parts["vae"] = AutoencoderKL.from_pretrained(folder, subfolder="vae", **common)
        for spec in family.encoders:
            kind = CLIPTextModelWithProjection if spec.pooled else CLIPTextModel
            parts[spec.attribute] = kind.from_pretrained(folder / spec.attribute, **common)
    except (OSError, ValueError) as error:
        raise CheckpointLoadError(f"{folder.name}: not a loadable diffusers folder ({error})") from error
    carried = family.config_dir
    for spec in family.encoders:
        own = folder / spec.tokenizer
        parts[spec.tokenizer] = CLIPTokenizer.from_pretrained(
            own if (own / "vocab.json").is_file() else carried / spec.tokenizer
        )
    scheduler_file = folder / "scheduler" / "scheduler_config.json"
    if not scheduler_file.is_file():
        scheduler_file = carried / "scheduler" / "scheduler_config.json"
    parts["scheduler_config"] = json.loads(scheduler_file.read_text(encoding="utf-8"))
    return family, parts


def folder_family(folder: Path):
    """A diffusers folder's family, from its model_index.json and UNet config."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
        unet = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CheckpointLoadError(f"{folder.name}: no readable model_index.json / unet/config.json ({error})") from None
    channels = int(unet.get("in_channels", 4))
    if "text_encoder_2" in index and not (index.get("text_encoder") or [None])[0]:
        return families.get("sdxl_refiner")
    if "text_encoder_2" in index:
        return families.get("sdxl_inpaint" if channels == 9 else "sdxl")
    if channels == 9:
        return families.get("sd1_inpaint")
    if channels == 8:
        return families.get("ip2p")
    if int(unet.get("cross_attention_dim", 768)) == 1024:
        return families.get("sd2")
    return families.get("sd1")


def _load_single_file(path: Path, policy, cache_dir: Path) -> tuple:
    import diffusers

    layout, embedded = read_family_layout(path)
    family, config_dir = _family_and_config(path, layout, embedded, cache_dir)
    pipeline_class = getattr(diffusers, family.pipeline)
    extra = {}
    if "safety_checker" in inspect.signature(pipeline_class.__init__).parameters:
        extra = {"safety_checker": None, "requires_safety_checker": False}
    vae_missing = not layout.has_prefix("first_stage_model.")
    if vae_missing:  # many fine-tunes ship without one: a VAE file gives its weights (SD VAE setting)
        config = diffusers.AutoencoderKL.load_config(config_dir / "vae")
        extra["vae"] = diffusers.AutoencoderKL.from_config(config).to(policy.dtype)
    try:
        pipe = pipeline_class.from_single_file(
            os.fspath(path), config=os.fspath(config_dir), local_files_only=True, torch_dtype=policy.dtype, **extra
        )
    except Exception as error:  # noqa: BLE001 - whatever diffusers raises for a file it cannot read
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointLoadError(
            f"{path.name}: could not be loaded as an {family.label} checkpoint ({reason})"
        ) from error
    parts = {"unet": pipe.unet, "vae": pipe.vae, "scheduler_config": dict(pipe.scheduler.config)}
    for name in ("text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2"):
        parts[name] = getattr(pipe, name, None)
    parts["vae_missing"] = vae_missing
    # Whether the file says epsilon or v itself (a .yaml beside it, our files' embedded scheduler):
    # read from the header already in hand, not a second time (a pickled file would be unpickled again).
    declared = "prediction_type" in _yaml_overrides(path) or bool(embedded and "scheduler" in json.loads(embedded))
    return family, parts, declared


def family_and_config(path: Path, cache_dir: Path) -> tuple:
    """(family, the local diffusers config folder that describes this single-file checkpoint): the
    family's carried folder, with the configs the file embeds (our own saves) and what a .yaml
    beside it says (v-prediction, upcast attention) written over it."""
    layout, embedded = read_family_layout(path)
    return _family_and_config(path, layout, embedded, cache_dir)


def _family_and_config(path: Path, layout, embedded: str | None, cache_dir: Path) -> tuple:
    try:
        family = families.detect(layout)
    except families.UnknownFamilyError as error:
        raise CheckpointLoadError(f"{path.name}: not a supported checkpoint: {error}") from None
    overrides = _yaml_overrides(path)
    base = family.config_dir.parent / family.config_for(overrides)
    if not (base / "model_index.json").is_file():
        what = f"{path.name}: {family.label} checkpoints need the carried config folder {base.name}"
        raise CheckpointLoadError(f"{what}, which is missing")
    if embedded is None and not overrides:
        return family, base
    return family, _materialize_config(base, embedded, overrides, cache_dir)


def config_folder_for(path: Path, cache_dir: Path) -> Path:
    """The local diffusers config folder that describes a single-file checkpoint."""
    return family_and_config(path, cache_dir)[1]


def read_family_layout(path: Path) -> tuple:
    """(families.Layout, the embedded configs' JSON text or None) of a single-file checkpoint."""
    metadata, keys, shapes = read_layout(path)
    embedded = metadata.get(EMBEDDED_CONFIG_KEY)
    declared = {}
    if embedded is not None:
        try:
            declared = {"family": str(json.loads(embedded).get("family") or "sd1")}
        except (ValueError, AttributeError):
            raise CheckpointLoadError(f"{path.name}: its embedded model configs are not valid JSON") from None
    return families.Layout(frozenset(keys), shapes, declared), embedded


def _yaml_overrides(path: Path) -> dict:
    """What a config .yaml beside the checkpoint (A1111's NAME.yaml) says about the keys that matter
    here: v-prediction and upcast attention. An unreadable one is ignored, as A1111 falls back to the
    default config."""
    import yaml

    beside = path.with_suffix(".yaml")
    if path.is_dir() or not beside.is_file():
        return {}
    try:
        config = yaml.safe_load(beside.read_text(encoding="utf-8"))
        params = (config or {}).get("model", {}).get("params", {}) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError):
        return {}
    overrides = {}
    if params.get("parameterization") == "v":
        overrides["prediction_type"] = "v_prediction"
    elif params.get("parameterization") == "eps":
        overrides["prediction_type"] = "epsilon"
    unet_params = (params.get("unet_config") or {}).get("params") or {}
    if isinstance(unet_params, dict) and "upcast_attention" in unet_params:
        overrides["upcast_attention"] = bool(unet_params["upcast_attention"])
    return overrides


def read_layout(path: Path) -> tuple[dict[str, str], set[str], dict[str, list[int]]]:
    """(metadata, tensor names, the shapes family detection needs) of a single-file checkpoint:
    a .safetensors header, or a pickled .ckpt / .pt / .bin read without running its code."""
    wanted = families.SHAPE_KEYS
    if path.suffix.lower() != ".safetensors":
        state = read_pickled_state(path)
        tensors = {key for key, value in state.items() if hasattr(value, "shape")}
        # Our own conversions carry their diffusers configs as a string entry, as .safetensors
        # files carry them in their metadata.
        embedded = state.get(EMBEDDED_CONFIG_KEY)
        metadata = {EMBEDDED_CONFIG_KEY: embedded} if isinstance(embedded, str) else {}
        return metadata, tensors, {key: list(state[key].shape) for key in wanted if key in tensors}
    try:
        with safe_open(os.fspath(path), framework="numpy") as handle:
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


def _materialize_config(base: Path, embedded: str | None, overrides: dict, cache_dir: Path) -> Path:
    text = json.dumps({"base": base.name, "embedded": embedded, "overrides": overrides}, sort_keys=True)
    folder = cache_dir / "configs" / hashlib.sha256(text.encode()).hexdigest()[:16]
    if (folder / "model_index.json").is_file():
        return folder
    try:
        return _write_config_folder(base, embedded, overrides, folder)
    except OSError:  # a full or read-only data dir must not stop a model from loading
        return _write_config_folder(base, embedded, overrides, Path(tempfile.mkdtemp(prefix="sdstudio-config-")))


def _write_config_folder(base: Path, embedded: str | None, overrides: dict, folder: Path) -> Path:
    configs = json.loads(embedded) if embedded else {}
    for part in ("tokenizer", "tokenizer_2", "scheduler", "unet", "vae", "text_encoder", "text_encoder_2"):
        if (base / part).is_dir():
            shutil.copytree(base / part, folder / part, dirs_exist_ok=True)
    for part in ("unet", "vae", "text_encoder", "text_encoder_2"):
        if isinstance(configs.get(part), dict):
            write_text_atomic(folder / part / "config.json", json.dumps(configs[part], indent=1))
    if isinstance(configs.get("scheduler"), dict):  # our own files record v-prediction this way
        write_text_atomic(folder / "scheduler" / "scheduler_config.json", json.dumps(configs["scheduler"], indent=1))
    if "prediction_type" in overrides:
        _update_json(folder / "scheduler" / "scheduler_config.json", prediction_type=overrides["prediction_type"])
    if "upcast_attention" in overrides:
        _update_json(folder / "unet" / "config.json", upcast_attention=overrides["upcast_attention"])
    # model_index.json last: its presence marks the folder complete.
    write_text_atomic(folder / "model_index.json", (base / "model_index.json").read_text(encoding="utf-8"))
    return folder


def _update_json(path: Path, **values) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(values)
    write_text_atomic(path, json.dumps(data, indent=1))


def native_resolution(info: CheckpointInfo) -> int:
    """The image side a model was trained at (UNet sample size x VAE stride), read from configs
    and a header only: cheap enough to set the UI's default size without loading weights (and
    without torch: a pickled file is not opened for this, SD 1.x's 512 is assumed)."""
    try:
        if info.is_diffusers_folder:
            unet = json.loads((info.path / "unet" / "config.json").read_text(encoding="utf-8"))
            vae = json.loads((info.path / "vae" / "config.json").read_text(encoding="utf-8"))
        elif info.path.suffix.lower() != ".safetensors":
            return 512
        else:
            layout, embedded = read_family_layout(info.path)
            family = families.detect(layout)
            base = family.config_dir.parent / family.config_for(_yaml_overrides(info.path))
            configs = json.loads(embedded) if embedded else {}
            unet = configs.get("unet") or json.loads((base / "unet" / "config.json").read_text(encoding="utf-8"))
            vae = configs.get("vae") or json.loads((base / "vae" / "config.json").read_text(encoding="utf-8"))
        return int(unet["sample_size"]) * 2 ** (len(vae["block_out_channels"]) - 1)
    except Exception:  # an unreadable header or config: assume SD 1.x, loading will say what is wrong
        return 512
