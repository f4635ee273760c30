"""The SDXL refiner: the bigG text encoder alone (penultimate layer, pooled output) and aesthetic-
score micro-conditioning: A1111's "SDXL high aesthetic score" for the prompt's rows, "low" for the
negative prompt's."""

from modules.models.families.base import Family, Layout, TextEncoderSpec
from modules.models.families.sdxl import SDXL


class SDXLRefiner(Family):
    name = "sdxl_refiner"
    label = "SDXL refiner"
    config = "sdxl_refiner"
    pipeline = "StableDiffusionXLImg2ImgPipeline"
    latent_space = "sdxl"
    native_size = 1024
    encoders = (TextEncoderSpec("text_encoder_2", "tokenizer_2", layer="penultimate", pooled=True),)
    preview_factors = SDXL.preview_factors
    preview_bias = SDXL.preview_bias

    def recognizes(self, layout: Layout) -> bool:
        return layout.has_prefix("conditioner.embedders.0.model.") and layout.unet_in_channels == 4

    def unet_inputs(self, settings, width: int, height: int):
        crop = (int(settings.get("sdxl_crop_top")), int(settings.get("sdxl_crop_left")))
        high = float(settings.get("sdxl_refiner_high_aesthetic_score"))
        low = float(settings.get("sdxl_refiner_low_aesthetic_score"))

        def inputs(pooled, negative) -> dict:
            import torch  # not at import time: the page lists families before torch is needed

            score = torch.where(negative.to(pooled.device), low, high).to(pooled.dtype)
            fixed = torch.tensor([height, width, *crop], dtype=pooled.dtype, device=pooled.device)
            ids = torch.cat([fixed.repeat(pooled.shape[0], 1), score[:, None]], dim=1)
            return {"added_cond_kwargs": {"text_embeds": pooled, "time_ids": ids}}

        return inputs


FAMILY = SDXLRefiner()
