"""SDXL base: two text encoders (CLIP ViT-L and OpenCLIP ViT-bigG, penultimate layers, hidden
states concatenated to 2048), bigG's pooled output, and size / crop micro-conditioning as the
UNet's added inputs (A1111's defaults: original and target size = the picture's size, crop from
the sdxl_crop_top / sdxl_crop_left settings)."""

from modules.models.families.base import SDXL_CONTEXT_KEY, Family, Layout, TextEncoderSpec

SDXL_ENCODERS = (
    TextEncoderSpec("text_encoder", "tokenizer", layer="penultimate"),
    TextEncoderSpec("text_encoder_2", "tokenizer_2", layer="penultimate", pooled=True),
)


class SDXL(Family):
    name = "sdxl"
    label = "SDXL"
    config = "sdxl"
    pipeline = "StableDiffusionXLPipeline"
    latent_space = "sdxl"
    native_size = 1024
    encoders = SDXL_ENCODERS
    zero_empty_negative = True
    preview_factors = (
        (0.3651, 0.4232, 0.4341),
        (-0.2533, -0.0042, 0.1068),
        (0.1076, 0.1111, -0.0362),
        (-0.3165, -0.2492, -0.2188),
    )
    preview_bias = (0.1084, -0.0175, -0.0011)

    def recognizes(self, layout: Layout) -> bool:
        return (
            layout.has_prefix("conditioner.embedders.1.model.")
            and layout.unet_in_channels == 4 + self.extra_channels
            and layout.context_width(SDXL_CONTEXT_KEY) in (None, 2048)
        )

    def unet_inputs(self, settings, width: int, height: int):
        crop = (int(settings.get("sdxl_crop_top")), int(settings.get("sdxl_crop_left")))
        time_ids = [height, width, *crop, height, width]

        def inputs(pooled, negative) -> dict:
            import torch  # not at import time: the page lists families before torch is needed

            ids = torch.tensor(time_ids, dtype=pooled.dtype, device=pooled.device).repeat(pooled.shape[0], 1)
            return {"added_cond_kwargs": {"text_embeds": pooled, "time_ids": ids}}

        return inputs


FAMILY = SDXL()
