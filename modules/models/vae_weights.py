"""Read a VAE file's weights into the diffusers AutoencoderKL layout and check that they fit a
loaded model's VAE.

Files come in two layouts: the original (LDM) one, "encoder.down.0.block.0..." (A1111's VAE files,
sometimes with the "first_stage_model." prefix of a whole checkpoint), and the diffusers one,
"encoder.down_blocks.0.resnets.0...". Pickled files (.pt / .ckpt) are read only through
loading.read_pickled_state (torch's weights_only unpickler): nothing in them runs.
"""

import os

import torch

from modules.models.vae_files import VaeInfo

# The tensors of a VAE; the rest of a file (a whole checkpoint's UNet, "loss.*" of a training
# run, "model_ema.decay") is not the VAE's.
_VAE_PARTS = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.")
_LDM_PREFIX = "first_stage_model."
_ARCHITECTURE_KEY = "modelspec.architecture"


class VaeLoadError(ValueError):
    """A VAE file that cannot be used (unreadable, refused, or not fitting the model). A
    ValueError: the file was the user's choice, and the API answers it with 4xx."""


def read_vae_file(info: VaeInfo) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(the VAE's tensors as found, the file's metadata) of a listed VAE file."""
    path = info.path
    if path.suffix.lower() == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(os.fspath(path), framework="pt", device="cpu") as handle:
                metadata = handle.metadata() or {}
                state = {key: handle.get_tensor(key) for key in handle.keys()}
        except Exception as error:  # safetensors raises its own types for a corrupt header
            raise VaeLoadError(f"VAE {info.name}: not a readable .safetensors file ({error})") from error
        return state, metadata
    from modules.models.loading import CheckpointLoadError, read_pickled_state

    try:
        loaded = read_pickled_state(path)
    except CheckpointLoadError as error:  # its message names the file and why it was refused
        raise VaeLoadError(f"VAE {error}") from None
    return {key: value for key, value in loaded.items() if isinstance(value, torch.Tensor)}, {}


def vae_tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Only the VAE's tensors, without a whole checkpoint's "first_stage_model." prefix."""
    if any(key.startswith(_LDM_PREFIX) for key in state):
        state = {key[len(_LDM_PREFIX) :]: value for key, value in state.items() if key.startswith(_LDM_PREFIX)}
    return {key: value for key, value in state.items() if key.startswith(_VAE_PARTS)}


def is_ldm_layout(state: dict[str, torch.Tensor]) -> bool:
    return any(key.startswith(("encoder.down.", "decoder.up.", "encoder.mid.", "decoder.mid.")) for key in state)


def to_diffusers_layout(state: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    """A VAE state dict in diffusers' AutoencoderKL names, converted by diffusers' own LDM converter
    (which also turns LDM's 1x1-conv attention weights into linear ones) when it is in LDM layout."""
    state = vae_tensors(state)
    if not is_ldm_layout(state):
        return state
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    return convert_ldm_vae_checkpoint(state, config)


def declared_latent_space(metadata: dict[str, str]) -> str | None:
    """The latent space a file says it belongs to ("sdxl" or "sd"), from its ModelSpec
    architecture ("stable-diffusion-xl-v1-base/vae", "stable-diffusion-v1/vae"); None when silent.
    (Real SD 1 and SDXL VAEs share one layout and one shape: only such a declaration tells them apart.)"""
    architecture = str(metadata.get(_ARCHITECTURE_KEY, "")).lower()
    if not architecture:
        return None
    return "sdxl" if "xl" in architecture else "sd"


def family_of(model) -> tuple[str, str]:
    """(label, latent space) of a loaded model's family: a Family object, or the name string that
    models loaded before families existed carry ("sd1")."""
    family = model.family
    label = getattr(family, "label", None) or {"sd1": "SD 1.x"}.get(str(family), str(family))
    space = getattr(family, "latent_space", None) or ("sdxl" if "xl" in str(family).lower() else "sd")
    return label, space


def check_fits(info: VaeInfo, state: dict[str, torch.Tensor], metadata: dict[str, str], model) -> None:
    """Raise VaeLoadError, naming the file, the checkpoint's family and why, unless `state` (diffusers
    layout) has exactly the tensor names and shapes of the model's VAE and the file declares no other
    family's latent space."""
    label, space = family_of(model)
    declared = declared_latent_space(metadata)
    if declared is not None and declared != space:
        made_for = "an SDXL" if declared == "sdxl" else "an SD 1.x / 2.x"
        raise VaeLoadError(
            f"VAE {info.name} does not fit the {label} checkpoint: it is {made_for} VAE "
            f"({_ARCHITECTURE_KEY} {metadata[_ARCHITECTURE_KEY]!r}), and latents of one family mean nothing to another"
        )
    reason = _shape_mismatch(state, model.vae)
    if reason:
        raise VaeLoadError(f"VAE {info.name} does not fit the {label} checkpoint: {reason}")


def _shape_mismatch(state: dict[str, torch.Tensor], vae) -> str | None:
    config = vae.config
    expected = {key: tuple(value.shape) for key, value in vae.state_dict().items()}
    latent = state.get("decoder.conv_in.weight")
    if latent is not None and latent.ndim == 4 and latent.shape[1] != config.latent_channels:
        return f"it has {latent.shape[1]} latent channels, the model's VAE {config.latent_channels}"
    first = state.get("encoder.conv_in.weight")
    if first is not None and first.ndim == 4 and first.shape[0] != config.block_out_channels[0]:
        return f"its first block is {first.shape[0]} channels wide, the model's VAE {config.block_out_channels[0]}"
    for key, shape in expected.items():
        if key in state and tuple(state[key].shape) != shape:
            return f"{key} is {list(state[key].shape)}, the model's VAE has {list(shape)} (other block widths)"
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} of the model's VAE tensors missing (e.g. {missing[0]})")
        if extra:
            parts.append(f"{len(extra)} tensors the model's VAE has no place for (e.g. {extra[0]})")
        return "its blocks differ from the model's VAE: " + "; ".join(parts)
    return None
