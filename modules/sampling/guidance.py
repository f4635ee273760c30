"""What the UNet is conditioned on at each step, and how its predictions combine.

A prompt is one or more AND parts, each with a weight and a schedule of texts (prompt editing
and alternation change the text at given steps). Every step the UNet sees one row per
(image, part): the negative parts first, then the positive ones; guidance combines them as
composable diffusion does: uncond + cfg * sum_i w_i * (cond_i - uncond). With one part of
weight 1 this is plain classifier-free guidance, computed exactly as a pipeline does.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch

from modules.prompts.schedules import text_at_step


@dataclass(frozen=True)
class Part:
    weight: float
    schedule: tuple[tuple[int, str], ...]  # (last 1-based step it applies to, text)

    def text_at(self, step: int) -> str:
        """The text for 0-based sampler step `step` (A1111's boundary: see text_at_step)."""
        return text_at_step(self.schedule, step)

    @classmethod
    def fixed(cls, text: str, weight: float = 1.0) -> "Part":
        return cls(weight, ((1 << 30, text),))


class GuidancePlan:
    def __init__(
        self,
        encode: Callable[[str], torch.Tensor],
        positives: list[list[Part]],
        negatives: list[Part],
        cfg_scale: float,
        steps: int,
        empty: torch.Tensor | None = None,
        unet_inputs: Callable | None = None,
        zero_empty_negative: bool = False,
    ):
        """`positives`: the parts of each image's prompt; `negatives`: the negative prompt's parts
        (shared by all images); `encode(text)` -> [tokens, hidden] or a Conditioning (hidden and
        pooled); `empty` pads shorter ones. `unet_inputs(pooled_rows, negative_rows) -> dict`: the
        family's extra UNet arguments (SDXL); `zero_empty_negative`: an empty negative prompt is
        zeros (SDXL base, as A1111 and diffusers)."""
        self.encode, self.positives, self.negatives = encode, positives, negatives
        self.cfg_scale, self.steps, self.empty = cfg_scale, steps, empty
        self.unet_inputs, self.zero_empty_negative = unet_inputs, zero_empty_negative
        self._unet_kwargs: dict = {}
        self.batch = len(positives)
        plain = all(len(parts) == 1 and parts[0].weight == 1 for parts in positives)
        # CFG 1 with plain prompts needs no unconditional pass at all: skip it, as pipelines do.
        self.use_uncond = not (cfg_scale == 1 and plain)
        self.simple = plain and len(negatives) == 1 and negatives[0].weight == 1
        self.cond_images = [b for b, parts in enumerate(positives) for _ in parts]
        self.uncond_images = [b for _ in negatives for b in range(self.batch)] if self.use_uncond else []
        self._rows = torch.tensor(self.uncond_images + self.cond_images)
        self._cache_key, self._cache = None, None
        # Negative Guidance minimum sigma may skip the negative rows (an edit model's plan may not).
        self.can_skip_uncond = True

    @classmethod
    def static(cls, cond: torch.Tensor, uncond: torch.Tensor | None, cfg_scale: float, batch: int) -> "GuidancePlan":
        """A plan from ready tensors ([1, T, hidden] each): one plain prompt for every image.
        `uncond` is None only at CFG 1, where the plan skips the unconditional pass anyway."""
        by_text = {"cond": cond[0], "uncond": uncond[0] if uncond is not None else cond[0]}
        return cls(by_text.__getitem__, [[Part.fixed("cond")]] * batch, [Part.fixed("uncond")], cfg_scale, 1)

    def step_for(self, index: int, total: int) -> int:
        """Sampler step of loop index `index` (second-order samplers loop ~2x per step)."""
        return min(self.steps - 1, index * self.steps // max(total, 1))

    def contexts(self, step: int, pad_cond_uncond: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(cond rows, uncond rows or None) for this step, reused while the texts stay the same.
        Rows of one kind always share a width (the shorter padded with empty chunks); with
        `pad_cond_uncond` (A1111's "Pad prompt/negative prompt") the prompt and negative rows are
        padded to one width too, so they can go through the UNet together."""
        cond_texts = tuple(part.text_at(step) for parts in self.positives for part in parts)
        uncond_texts = tuple(part.text_at(step) for part in self.negatives) if self.use_uncond else ()
        key = (cond_texts, uncond_texts, pad_cond_uncond)
        if key != self._cache_key:
            encoded = {text: _hidden_and_pooled(self.encode(text)) for text in set(cond_texts + uncond_texts)}
            cond_width = max(encoded[text][0].shape[0] for text in cond_texts)
            uncond_width = max((encoded[text][0].shape[0] for text in uncond_texts), default=cond_width)
            if pad_cond_uncond:
                cond_width = uncond_width = max(cond_width, uncond_width)
            cond = torch.stack([self._pad(encoded[text][0], cond_width) for text in cond_texts])
            uncond, uncond_pooled = None, []
            if self.use_uncond:
                hidden = {text: self._pad(encoded[text][0], uncond_width) for text in uncond_texts}
                negatives = [self._negative(encoded[text], hidden[text], text) for text in uncond_texts]
                uncond = torch.stack([row for row, _ in negatives for _ in range(self.batch)])
                uncond_pooled = [pooled for _, pooled in negatives for _ in range(self.batch)]
            self._cache_key, self._cache = key, (cond, uncond)
            self._unet_kwargs = self._extra_inputs([encoded[t][1] for t in cond_texts], uncond_pooled)
        return self._cache

    def stand_in_rows(self) -> torch.Tensor:
        """For each negative row, the index among the prompt rows of its image's first prompt row:
        on the steps Negative Guidance minimum sigma skips the negative rows, their predictions are
        taken to be these (A1111's fake uncond), so the guidance gives the prompt's prediction."""
        first: dict[int, int] = {}
        for row, image in enumerate(self.cond_images):
            first.setdefault(image, row)
        return torch.tensor([first[image] for image in self.uncond_images], dtype=torch.long)

    def _negative(self, encoded: tuple, hidden: torch.Tensor, text: str) -> tuple:
        """(hidden, pooled) of a negative prompt's text: zeros for an empty one where the family says so."""
        if self.zero_empty_negative and text == "":
            return torch.zeros_like(hidden), _zeros_if(encoded[1], True)
        return hidden, encoded[1]

    def unet_kwargs(self, step_index: int | None = None) -> dict:
        """Extra UNet call arguments for the rows of the last contexts() call (SDXL's pooled output
        and micro-conditioning); {} for families without them."""
        return self._unet_kwargs

    def _extra_inputs(self, cond_pooled: list, uncond_pooled: list) -> dict:
        if self.unet_inputs is None:
            return {}
        pooled = uncond_pooled + cond_pooled  # the UNet batch's order: negative rows first
        if any(p is None for p in pooled):
            raise ValueError("this model needs pooled text encodings, the encoder gave none")
        negative = torch.tensor([True] * len(uncond_pooled) + [False] * len(cond_pooled))
        return self.unet_inputs(torch.stack(pooled), negative)

    def extra_channel_rows(self, channels: torch.Tensor) -> torch.Tensor:
        """A batch's extra UNet input channels (inpainting models, instruct-pix2pix) in row order."""
        return self.model_input(channels)

    def _pad(self, tensor: torch.Tensor, width: int) -> torch.Tensor:
        if tensor.shape[0] == width:
            return tensor
        filler = self.empty if self.empty is not None else tensor[-77:]
        repeats = (width - tensor.shape[0]) // filler.shape[0]
        return torch.cat([tensor, filler.repeat(repeats, 1)])

    def model_input(self, latents: torch.Tensor) -> torch.Tensor:
        """One latent row per context row."""
        if self.simple:
            return torch.cat([latents, latents]) if self.use_uncond else latents
        return latents.index_select(0, self._rows.to(latents.device))

    def combine(self, prediction: torch.Tensor) -> torch.Tensor:
        if self.simple:
            if not self.use_uncond:
                return prediction
            uncond, cond = prediction.chunk(2)
            return uncond + self.cfg_scale * (cond - uncond)
        n_uncond = len(self.uncond_images)
        uncond_rows, cond_rows = prediction[:n_uncond], prediction[n_uncond:]
        outputs, cursor = [], 0
        for image, parts in enumerate(self.positives):
            conds = cond_rows[cursor : cursor + len(parts)]
            cursor += len(parts)
            if not self.use_uncond:  # CFG 1, one plain part
                outputs.append(conds[0])
                continue
            uncond = self._negative_prediction(uncond_rows, image)
            guided = uncond.clone()
            for part, cond in zip(parts, conds, strict=True):
                guided += self.cfg_scale * part.weight * (cond - uncond)
            outputs.append(guided)
        return torch.stack(outputs)

    def _negative_prediction(self, uncond_rows: torch.Tensor, image: int) -> torch.Tensor:
        """The negative prompt's AND parts, averaged by weight (one part: itself)."""
        rows = uncond_rows[image :: self.batch]
        if len(self.negatives) == 1:
            return rows[0]
        weights = torch.tensor([p.weight for p in self.negatives], dtype=rows.dtype, device=rows.device)
        total = weights.sum()
        if float(total) == 0:
            return rows.mean(0)
        return (rows * weights.view(-1, *[1] * (rows.dim() - 1))).sum(0) / total


def _hidden_and_pooled(encoded) -> tuple[torch.Tensor, torch.Tensor | None]:
    """An encoder's result: a Conditioning (hidden, pooled) or a bare hidden-states tensor."""
    if isinstance(encoded, torch.Tensor):
        return encoded, None
    return encoded.hidden, encoded.pooled


def _zeros_if(tensor: torch.Tensor | None, zero: bool) -> torch.Tensor | None:
    return torch.zeros_like(tensor) if zero and tensor is not None else tensor
