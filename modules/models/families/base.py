"""What every model family answers, with SD 1.x's answers as the defaults.

A family module subclasses `Family` and overrides only what differs for it; the engine asks the
loaded model's family (`model.family`) instead of testing names. Detection reads only a
checkpoint's tensor names, a few shapes and its metadata (`Layout`), never the weights.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"

UNET_PREFIX = "model.diffusion_model."
UNET_IN_KEY = UNET_PREFIX + "input_blocks.0.0.weight"
# The first cross-attention's key projection: its input width is the text encoders' width.
CONTEXT_KEY = UNET_PREFIX + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
SDXL_CONTEXT_KEY = UNET_PREFIX + "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight"
SD1_TEXT_KEY = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
# The tensors whose shapes detection reads (a header gives them without reading any weights).
SHAPE_KEYS = (UNET_IN_KEY, CONTEXT_KEY, SDXL_CONTEXT_KEY)


@dataclass(frozen=True)
class Layout:
    """A checkpoint as detection sees it."""

    keys: frozenset[str]
    shapes: dict[str, list[int]] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)

    def has_prefix(self, prefix: str) -> bool:
        return any(key.startswith(prefix) for key in self.keys)

    @property
    def unet_in_channels(self) -> int | None:
        shape = self.shapes.get(UNET_IN_KEY)
        return int(shape[1]) if shape and len(shape) > 1 else None

    def context_width(self, key: str = CONTEXT_KEY) -> int | None:
        shape = self.shapes.get(key)
        return int(shape[1]) if shape and len(shape) > 1 else None


@dataclass(frozen=True)
class TextEncoderSpec:
    """One text encoder of a family and how its hidden states are taken.

    `layer`: "last" (the final layer's output through the final layer norm; CLIP skip n takes the
    n-th layer from the end through that norm, as A1111 does for SD 1.x) or "penultimate" (the
    second-to-last layer's raw output, as SDXL's encoders are used; CLIP skip n goes n-1 further
    back). `pad`: the token a chunk is padded with after its end token ("!" for OpenCLIP)."""

    attribute: str = "text_encoder"
    tokenizer: str = "tokenizer"
    layer: str = "last"
    pooled: bool = False  # this encoder gives the pooled (projected) output the UNet also takes


class Family:
    name = "sd1"
    label = "SD 1.x"
    config = "sd1"  # the carried diffusers config folder under modules/models/configs/
    pipeline = "StableDiffusionPipeline"  # the diffusers pipeline whose from_single_file reads it
    latent_space = "sd"  # VAEs and merge partners must share it
    native_size = 512
    encoders: tuple[TextEncoderSpec, ...] = (TextEncoderSpec(),)
    extra_channels = 0  # UNet input channels after the 4 latent ones
    # An empty negative prompt is encoded as zeros (SDXL base, as A1111 and diffusers do).
    zero_empty_negative = False
    # Latent channels -> RGB for the cheap live preview (A1111's "Approx cheap"), then the bias.
    preview_factors = ((0.298, 0.207, 0.208), (0.187, 0.286, 0.173), (-0.158, 0.189, 0.264), (-0.184, -0.271, -0.473))
    preview_bias = (0.0, 0.0, 0.0)

    @property
    def config_dir(self) -> Path:
        return CONFIGS_DIR / self.config

    def recognizes(self, layout: Layout) -> bool:
        return (
            SD1_TEXT_KEY in layout.keys
            and layout.unet_in_channels == 4 + self.extra_channels
            and layout.context_width() in (None, 768)
        )

    def config_for(self, overrides: dict) -> str:
        """The carried config folder's name for this checkpoint (`overrides`: what a .yaml beside
        it says, e.g. {"prediction_type": "v_prediction"})."""
        return self.config

    def unet_inputs(self, settings, width: int, height: int) -> "Callable | None":
        """Extra UNet call arguments from the pooled outputs: None when the family has none.
        Called as f(pooled_rows, negative_rows) -> dict, rows in the UNet batch's order."""
        return None

    def __repr__(self) -> str:
        return f"<family {self.name}>"
