"""From a job's prompts to a GuidancePlan: settings -> encode options, AND parts, prompt-editing
schedules, and the encoder (with the engine's embeddings and encoding cache)."""

from modules.prompts.conditioning import EncodeOptions, PromptEncoder
from modules.prompts.parser import get_learned_conditioning_prompt_schedules, get_multicond_prompt_list
from modules.sampling.guidance import GuidancePlan, Part


def encode_options(settings, clip_skip: int | None = None) -> EncodeOptions:
    return EncodeOptions(
        emphasis=settings.get("emphasis"),
        clip_skip=int(clip_skip or settings.get("CLIP_stop_at_last_layers")),
        comma_backtrack=int(settings.get("comma_padding_backtrack")),
    )


def prompt_parts(text: str, steps: int, hires_steps: int | None = None) -> list[Part]:
    """`a cat :1.2 AND [red:blue:0.5] dog` -> its weighted parts, each with its schedule (for
    the hires pass when `hires_steps` is given: `when` between 1 and 2 targets that pass)."""
    indexes, flat, _ = get_multicond_prompt_list([text])
    # A1111 keeps the space after AND (" a dog"); the tokenizer drops it, so strip it here and
    # "a AND a" encodes one text, not two equal ones.
    texts = [flat[i].lstrip() for i, _ in indexes[0]]
    unique = list(dict.fromkeys(texts))
    schedules = dict(zip(unique, get_learned_conditioning_prompt_schedules(unique, steps, hires_steps), strict=True))
    return [
        Part(float(weight), tuple((int(end), str(t)) for end, t in schedules[part]))
        for part, (_, weight) in zip(texts, indexes[0], strict=True)
    ]


class JobPrompts:
    """The prompt side of one generation."""

    def __init__(self, engine, p, network_state=()):
        model = p.model
        embeddings = engine.embeddings_for(model)
        options = encode_options(p.settings, p.clip_skip)  # the job's snapshot, not the live settings
        layers = min(encoder.config.num_hidden_layers for _, encoder, _ in model.text_encoders())
        if options.clip_skip > layers:  # the encoder uses its first layer: say so on the job
            p.warnings.append(f"Clip skip {options.clip_skip} is more than this model's {layers} layers: {layers} used")
        self.encoder = PromptEncoder(model, options, embeddings, engine.encodings, state=network_state)
        self.family, self.settings = model.family, p.settings
        self.size = (p.width, p.height)
        self._parts: dict[tuple, list[Part]] = {}

    def parts(self, text: str, steps: int, hires_steps: int | None = None) -> list[Part]:
        key = (text, steps, hires_steps)
        if key not in self._parts:
            self._parts[key] = prompt_parts(text, steps, hires_steps)
        return self._parts[key]

    def plan(self, prompts: list[str], negative_prompt: str, cfg_scale: float, steps: int,
             hires_steps: int | None = None, loop_steps: int | None = None,
             size: tuple[int, int] | None = None) -> GuidancePlan:  # fmt: skip
        """`loop_steps`: the steps the sampler really runs (fewer than `hires_steps` in a
        partial-denoise pass, where A1111 counts the schedule in the steps it runs). `size`: (width,
        height) of the pass, for SDXL's size conditioning (default: the job's)."""
        positives = [self.parts(text, steps, hires_steps) for text in prompts]
        negatives = self.parts(negative_prompt, steps, hires_steps)
        width, height = size or self.size
        return GuidancePlan(self.encoder.conditioning, positives, negatives, cfg_scale, loop_steps or steps,
                            empty=self.encoder.empty_chunk(),
                            unet_inputs=self.family.unet_inputs(self.settings, width, height),
                            zero_empty_negative=self.family.zero_empty_negative)  # fmt: skip
