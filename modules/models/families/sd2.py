"""Stable Diffusion 2.x: the OpenCLIP ViT-H text encoder (1024 wide; diffusers keeps its layers up
to the penultimate one, the layer SD 2 was trained on), 512 px epsilon (2.x-base) or 768 px
v-prediction. Which one a file is cannot be read from its tensor names: a .yaml beside the
checkpoint decides (`parameterization: "v"`, A1111's way, also the user's per-checkpoint
override), else the UNet is asked once, as A1111 does (modules/models/prediction_probe.py)."""

from modules.models.families.base import Family, Layout, TextEncoderSpec


class SD2(Family):
    name = "sd2"
    label = "SD 2.x"
    config = "sd2"
    encoders = (TextEncoderSpec(),)

    def recognizes(self, layout: Layout) -> bool:
        return layout.has_prefix("cond_stage_model.model.") and layout.unet_in_channels == 4

    def config_for(self, overrides: dict) -> str:
        return "sd2_v" if overrides.get("prediction_type") == "v_prediction" else "sd2"


FAMILY = SD2()
