"""Shared helpers for the lycoris extension tests: load the extension the way the app does,
build the tiny model, write LoRA/LyCORIS files with the `lycoris` package itself."""

import atexit
import copy
import functools
import hashlib
import importlib
import logging
import shutil
import tempfile
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from modules.models.loading import LoadedModel
from modules.plugins.manager import ExtensionManager
from modules.processing.context import ProcessingContext
from tests.fixtures.tiny_model import TEXT_CONFIG, UNET_CONFIG

EXTENSION_DIR = Path(__file__).resolve().parents[2] / "extensions" / "lycoris"

# The classic SD 1.x LyCORIS targets (the package's own "full" preset also lists the time
# embedding as a block and then trips over its duplicate names on a diffusers UNet).
SD1_PRESET = """
enable_conv = {conv}
unet_target_module = ["Transformer2DModel", "ResnetBlock2D", "Downsample2D", "Upsample2D"]
unet_target_name = ["conv_in", "conv_out", "time_embedding.linear_1", "time_embedding.linear_2"]
text_encoder_target_module = ["CLIPAttention", "CLIPMLP"]
text_encoder_target_name = []
"""
# (IA)^3 on k/v/ff-out as the package's ia3 preset means it, with patterns that match diffusers
# names; ff/fc2/conv_in scale their input channels, the rest their output channels.
IA3_PRESET = """
enable_conv = true
unet_target_module = []
unet_target_name = [".*to_k$", ".*to_v$", ".*ff.net.2$", "conv_in", "conv_out"]
text_encoder_target_module = []
text_encoder_target_name = [".*k_proj$", ".*v_proj$", ".*mlp.fc2$"]
[name_algo_map.".*mlp.fc2$"]
train_on_input = true
[name_algo_map.".*ff.net.2$"]
train_on_input = true
[name_algo_map."conv_in"]
train_on_input = true
"""


@functools.cache
def scratch() -> Path:
    """One temporary folder for this test process, removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="lycoris-tests-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@functools.cache
def extension():
    """The extension package, imported by the real extension manager (from a folder holding only
    this extension, so other bundled extensions are not loaded here)."""
    root = scratch() / "extensions"
    root.mkdir()
    (root / "lycoris").symlink_to(EXTENSION_DIR, target_is_directory=True)
    manager = ExtensionManager([root])
    manager.load()
    info = manager.get("lycoris")
    assert info is not None and info.status == "loaded", info and info.errors
    return manager, importlib.import_module(info.module_name)


def ext_module(name: str):
    """A module of the extension, e.g. ext_module("tags")."""
    return importlib.import_module(f"{extension()[1].__name__}.{name}")


@functools.cache
def _base_parts():
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**UNET_CONFIG).eval()
    text_encoder = CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG)).eval()
    return unet, text_encoder


def fresh_parts():
    """(unet, text_encoder): identical, independent copies of the tiny model each call."""
    unet, text_encoder = _base_parts()
    return copy.deepcopy(unet), copy.deepcopy(text_encoder)


def loaded_model(unet=None, text_encoder=None) -> LoadedModel:
    if unet is None:
        unet, text_encoder = fresh_parts()
    return LoadedModel(
        info=None,
        sha256="",
        family="sd1",
        unet=unet,
        vae=None,
        text_encoder=text_encoder,
        tokenizer=None,
        scheduler_config={},
    )


def context(model: LoadedModel, models_dir: Path) -> ProcessingContext:
    return ProcessingContext(
        request=None, model=model, settings=None, models_dir=models_dir, prompt="", negative_prompt=""
    )


def weights_hash(*modules: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for module in modules:
        for key, tensor in sorted(module.state_dict().items()):
            digest.update(key.encode())
            digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def write_lycoris_file(path: Path, algo: str, dim=4, alpha=2.0, preset=None, metadata=None, **kwargs):
    """A network file as LyCORIS users have them: built and saved by the package's kohya wrapper
    (keys `lora_unet_...`/`lora_te_...`) on a copy of the tiny model, with every parameter
    randomized (several formats initialize one factor to zero, which would make a no-op file)."""
    from lycoris import kohya

    logging.getLogger("LyCORIS").setLevel(logging.ERROR)
    unet, text_encoder = fresh_parts()
    preset_text = preset or SD1_PRESET.format(conv="true")
    preset_file = scratch() / f"preset-{hashlib.sha256(preset_text.encode()).hexdigest()[:12]}.toml"
    preset_file.write_text(preset_text)
    preset_path = str(preset_file)
    torch.manual_seed(1)  # the package initializes with the global generator: same file whatever ran before
    network = kohya.create_network(1.0, dim, alpha, None, text_encoder, unet, algo=algo, preset=preset_path, **kwargs)
    network.apply_to(text_encoder, unet, apply_text_encoder=True, apply_unet=True)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.1)
    network.save_weights(str(path), torch.float32, {"ss_output_name": path.stem + "-alias", **(metadata or {})})
    return network, unet, text_encoder


def models_with_ink_lora(models: Path, tiny_single_file: Path) -> Path:
    """A models folder with the tiny checkpoint and Lora/ink.safetensors (a plain LoRA)."""
    shutil.copytree(tiny_single_file.parent, models / "Stable-diffusion")
    (models / "Lora").mkdir()
    write_lycoris_file(models / "Lora" / "ink.safetensors", "lora")
    return models
