"""The Hires. fix controls of the txt2img tab, named as A1111 names them."""

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from modules.processing.request import SAME_CHECKPOINT, SIZE_MULTIPLE, HiresKnobs
from modules.processing.upscalers import LATENT_UPSCALERS, UPSCALERS
from modules.sampling import catalog
from webui.components.field_group import FieldGroup, field_defaults, slider_for
from webui.components.refiner import checkpoint_dropdown, listed_name

SAME_SAMPLER = "Use same sampler"
SAME_SCHEDULE = "Use same scheduler"
DEFAULTS = field_defaults(
    HiresKnobs, hr_sampler_name=SAME_SAMPLER, hr_scheduler=SAME_SCHEDULE, hr_checkpoint_name=SAME_CHECKPOINT
)


@dataclass
class HiresControls(FieldGroup):
    resolve: Callable[[str], str | None] = lambda wanted: None  # a pasted checkpoint name -> the listed name

    def request_fields(self, by_component: dict) -> dict:
        """The request's hires fields from an event's {component: value}."""
        chosen = self.values(by_component)
        chosen["hr_sampler_name"] = None if chosen["hr_sampler_name"] == SAME_SAMPLER else chosen["hr_sampler_name"]
        chosen["hr_scheduler"] = None if chosen["hr_scheduler"] == SAME_SCHEDULE else chosen["hr_scheduler"]
        checkpoint = chosen["hr_checkpoint_name"]
        chosen["hr_checkpoint_name"] = None if not checkpoint or checkpoint == SAME_CHECKPOINT else checkpoint
        for name in ("hr_second_pass_steps", "hr_resize_x", "hr_resize_y"):
            chosen[name] = int(chosen[name] or 0)
        chosen["enable_hr"] = bool(chosen["enable_hr"])
        return chosen

    def pasted_values(self, fields: dict) -> dict:
        """{component: value} from pasted request fields (the defaults for what they leave out); a
        hires checkpoint is shown as the listed file it names, one not listed leaves the choice as is."""
        updates = super().pasted_values({**fields, "hr_checkpoint_name": SAME_CHECKPOINT})
        wanted = fields.get("hr_checkpoint_name")
        if wanted and wanted != SAME_CHECKPOINT:
            name = self.resolve(wanted)
            if name is None:
                del updates[self.fields["hr_checkpoint_name"]]
            else:
                updates[self.fields["hr_checkpoint_name"]] = name
        return updates


def upscaler_choices(upscalers=None) -> list[str]:
    """The latent upscalers, then None / Lanczos / Nearest and the model upscalers the engine lists
    (`upscalers`: engine.upscalers; without it only the ones that need no model file)."""
    if upscalers is None:
        return list(UPSCALERS)
    return [*LATENT_UPSCALERS, *upscalers.names()]


def build_hires_controls(tab: str, engine) -> HiresControls:
    """`engine`: lists the upscalers and the checkpoints the hires pass may use."""
    d = DEFAULTS
    with gr.Accordion("Hires. fix", open=False, elem_id=f"{tab}_hr"):
        enable = gr.Checkbox(label="Enable hires. fix", value=d["enable_hr"], elem_id=f"{tab}_enable_hr")
        with gr.Row():
            upscaler = gr.Dropdown(
                upscaler_choices(engine.upscalers),
                value=d["hr_upscaler"],
                label="Upscaler",
                elem_id=f"{tab}_hr_upscaler",
            )
            steps = slider_for(HiresKnobs, "hr_second_pass_steps", label="Hires steps (0: same as sampling steps)",
                               elem_id=f"{tab}_hires_steps")  # fmt: skip
            strength = slider_for(HiresKnobs, "denoising_strength", step=0.01, label="Denoising strength",
                                  elem_id=f"{tab}_denoising_strength")  # fmt: skip
        with gr.Row():
            scale = slider_for(HiresKnobs, "hr_scale", step=0.05, label="Upscale by", elem_id=f"{tab}_hr_scale")
            resize_x = slider_for(HiresKnobs, "hr_resize_x", step=SIZE_MULTIPLE, label="Resize width to",
                                  elem_id=f"{tab}_hr_resize_x")  # fmt: skip
            resize_y = slider_for(HiresKnobs, "hr_resize_y", step=SIZE_MULTIPLE, label="Resize height to",
                                  elem_id=f"{tab}_hr_resize_y")  # fmt: skip
        with gr.Row():
            checkpoint, _ = checkpoint_dropdown(engine, ((SAME_CHECKPOINT, SAME_CHECKPOINT),),
                                                label="Hires checkpoint", value=d["hr_checkpoint_name"],
                                                elem_id=f"{tab}_hr_checkpoint")  # fmt: skip
            sampler = gr.Dropdown([SAME_SAMPLER, *catalog.sampler_names()], value=d["hr_sampler_name"],
                                  label="Hires sampling method", elem_id=f"{tab}_hr_sampler")  # fmt: skip
            schedule = gr.Dropdown([SAME_SCHEDULE, *catalog.SCHEDULE_TYPES], value=d["hr_scheduler"],
                                   label="Hires schedule type", elem_id=f"{tab}_hr_scheduler")  # fmt: skip
        prompt = gr.Textbox(label="Hires prompt (empty: the prompt)", lines=2, elem_id=f"{tab}_hr_prompt")
        negative = gr.Textbox(label="Hires negative prompt (empty: the negative prompt)", lines=2,
                              elem_id=f"{tab}_hr_negative_prompt")  # fmt: skip
    return HiresControls(
        {
            "enable_hr": enable,
            "hr_upscaler": upscaler,
            "hr_second_pass_steps": steps,
            "denoising_strength": strength,
            "hr_scale": scale,
            "hr_resize_x": resize_x,
            "hr_resize_y": resize_y,
            "hr_sampler_name": sampler,
            "hr_scheduler": schedule,
            "hr_prompt": prompt,
            "hr_negative_prompt": negative,
            "hr_checkpoint_name": checkpoint,
        },
        DEFAULTS,
        resolve=lambda wanted: listed_name(engine, wanted),
    )
