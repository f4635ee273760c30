"""instruct-pix2pix guidance: two scales, three kinds of UNet row per picture.

An ip2p UNet sees the picture to edit as 4 extra input channels. Each step runs, per picture,
the prompt with the picture, the negative prompt with the picture, and the negative prompt without
it (zeros in the picture channels); they combine as A1111's combine_denoised_for_edit_model and
diffusers' StableDiffusionInstructPix2PixPipeline do:

    uncond + cfg * (text - image) + image_cfg * (image - uncond)

where `image` is the negative prompt with the picture and `uncond` the one without. With AND parts
the text term is composable diffusion's sum over the parts, as the base plan's. At an Image CFG
scale of 1 the third row changes nothing (the formula reduces to plain CFG between the two rows
with the picture), so A1111 does not run it: the caller keeps the base plan there
(`ip2p_plan_for`).

Rows, in the order the denoiser concatenates `context = cat([uncond, cond])`: the negative rows
with the picture, the same negative rows again (without it), then the prompt rows. `contexts()`
returns the negative hidden states twice over to line up with them, which is what step hooks
(cfg_denoiser) see as `uncond`.
"""

import torch

from modules.sampling.guidance import GuidancePlan


class InstructPix2PixPlan(GuidancePlan):
    def __init__(self, encode, positives, negatives, cfg_scale: float, steps: int, empty=None,
                 image_cfg_scale: float = 1.5):  # fmt: skip
        super().__init__(encode, positives, negatives, cfg_scale, steps, empty)
        self._setup_edit(image_cfg_scale)

    @classmethod
    def from_plan(cls, plan: GuidancePlan, image_cfg_scale: float) -> "InstructPix2PixPlan":
        """The same prompts, encoder and scales as `plan` (every attribute it holds), guided for an
        edit model."""
        edit = cls.__new__(cls)
        edit.__dict__.update(plan.__dict__)
        edit._setup_edit(image_cfg_scale)
        return edit

    def _setup_edit(self, image_cfg_scale: float) -> None:
        self.image_cfg_scale = float(image_cfg_scale)
        # The image guidance needs the negative rows whatever the CFG scale: never skip them.
        self.use_uncond = True
        self.can_skip_uncond = False  # A1111 never skips them for an edit model (NGMS)
        self.simple = False
        self.uncond_images = [b for _ in self.negatives for b in range(self.batch)]
        self._rows = torch.tensor(self.uncond_images + self.uncond_images + self.cond_images)
        self._cache_key, self._cache = None, None
        self._doubled_key, self._doubled = None, None

    def contexts(self, step: int, pad_cond_uncond: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        cond, uncond = super().contexts(step, pad_cond_uncond)
        if self._doubled_key is not self._cache:  # the base reuses its tensors while the texts stay
            self._doubled_key, self._doubled = self._cache, (cond, torch.cat([uncond, uncond]))
        return self._doubled

    def unet_kwargs(self, step_index: int | None = None) -> dict:
        """The base plan's extra UNet arguments (rows: negative, prompt) with the negative rows
        repeated for the rows without the picture."""
        return _repeat_negative_rows(super().unet_kwargs(step_index), len(self.uncond_images))

    def model_input(self, latents: torch.Tensor) -> torch.Tensor:
        return latents.index_select(0, self._rows.to(latents.device))

    def extra_channel_rows(self, extra_channels: torch.Tensor) -> torch.Tensor:
        """The picture latents for the rows with the picture, zeros for the rows without it."""
        rows = extra_channels.index_select(0, self._rows.to(extra_channels.device))
        n_uncond = len(self.uncond_images)
        rows[n_uncond : 2 * n_uncond] = 0
        return rows

    def combine(self, prediction: torch.Tensor) -> torch.Tensor:
        n_uncond = len(self.uncond_images)
        with_image = prediction[:n_uncond]
        without_image = prediction[n_uncond : 2 * n_uncond]
        cond_rows = prediction[2 * n_uncond :]
        outputs, cursor = [], 0
        for image, parts in enumerate(self.positives):
            conds = cond_rows[cursor : cursor + len(parts)]
            cursor += len(parts)
            image_pred = self._negative_prediction(with_image, image)
            uncond = self._negative_prediction(without_image, image)
            if len(parts) == 1 and parts[0].weight == 1:  # the pipelines' formula, term for term
                guided = uncond + self.cfg_scale * (conds[0] - image_pred)
            else:
                guided = uncond.clone()
                for part, cond in zip(parts, conds, strict=True):
                    guided += self.cfg_scale * part.weight * (cond - image_pred)
            outputs.append(guided + self.image_cfg_scale * (image_pred - uncond))
        return torch.stack(outputs)


def _repeat_negative_rows(value, n_uncond: int):
    """Row-wise UNet arguments (tensors, possibly in dicts) from [negative, prompt] rows to
    [negative, negative again, prompt] rows."""
    if isinstance(value, dict):
        return {key: _repeat_negative_rows(item, n_uncond) for key, item in value.items()}
    if isinstance(value, torch.Tensor) and value.dim() > 0:
        return torch.cat([value[:n_uncond], value[:n_uncond], value[n_uncond:]])
    return value


def ip2p_plan_for(plan: GuidancePlan, image_cfg_scale: float | None) -> GuidancePlan:
    """The plan an instruct-pix2pix job samples with: the edit plan, or `plan` itself when the
    Image CFG scale is 1 or not given (A1111's API default, None: no image guidance), where both
    rows with the picture are all that is needed (the default extra_channel_rows gives every row
    the picture)."""
    if image_cfg_scale is None or float(image_cfg_scale) == 1.0:
        return plan
    return InstructPix2PixPlan.from_plan(plan, image_cfg_scale)
