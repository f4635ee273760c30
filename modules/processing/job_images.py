"""The images of one job, one by one: their prompts and seeds as A1111's `p` lists them
(`all_prompts`, `all_seeds`, ... over the whole job; `prompts`, `seeds`, ... for the current
batch), handed to the hooks and recorded as each batch really used them."""

from dataclasses import dataclass

from modules.processing.context import ProcessingContext
from modules.prompts.extra_networks import TAG, strip_tags
from modules.sampling.noise import SeedPlan


@dataclass
class JobImages:
    """Per-image prompts and seeds of one job: p.all_* filled before the `process` hook, each
    batch's slice handed to the batch hooks, and what a batch really used recorded back."""

    p: ProcessingContext
    shown_prompt: str  # the job's prompt as the infotext shows it (tags kept)
    shown_negative: str
    encoded_prompt: str = ""  # p.prompt after the `process` hook: tags stripped, maybe changed
    encoded_negative: str = ""

    @classmethod
    def start(cls, p: ProcessingContext, seed_plan: SeedPlan) -> "JobImages":
        request = p.request
        total = request.batch_size * request.n_iter
        batches = [seed_plan.for_batch(index) for index in range(request.n_iter)]
        p.all_prompts = [p.prompt] * total
        p.all_negative_prompts = [p.negative_prompt] * total
        p.all_seeds = [seed for batch in batches for seed in batch.seeds]
        p.all_subseeds = [subseed for batch in batches for subseed in batch.subseeds]
        return cls(p, p.prompt, p.negative_prompt)

    def begin_batch(self, batch_index: int) -> None:
        """Set p's batch fields from the job lists, in the form the encoder takes."""
        p, size = self.p, self.p.request.batch_size
        window = slice(batch_index * size, (batch_index + 1) * size)
        p.iteration = batch_index
        p.prompts = [self._encoded(text, self.shown_prompt, self.encoded_prompt) for text in p.all_prompts[window]]
        p.negative_prompts = [
            self._encoded(text, self.shown_negative, self.encoded_negative) for text in p.all_negative_prompts[window]
        ]
        p.seeds, p.subseeds = list(p.all_seeds[window]), list(p.all_subseeds[window])

    def _encoded(self, text: str, shown: str, encoded: str) -> str:
        if text == shown:  # untouched: the job's prompt as the `process` hook left it
            return encoded
        stripped, calls = strip_tags(text)
        if calls and f"{_IGNORED_TAGS}{text!r}" not in self.p.warnings:
            # Networks are activated once per job, from the job's prompt.
            self.p.warnings.append(f"{_IGNORED_TAGS}{text!r}")
        return stripped

    def used(self) -> tuple[list[str], str, list[int], list[int]]:
        """The batch as the hooks left it: (prompts, the negative prompt, seeds, subseeds)."""
        p, size = self.p, self.p.request.batch_size
        for name in ("prompts", "seeds", "subseeds"):
            if len(getattr(p, name)) != size:
                raise ValueError(
                    f"an extension left p.{name} with {len(getattr(p, name))} entries for a batch of {size}"
                )
        negatives = p.negative_prompts or [self.encoded_negative]
        if len(set(negatives)) > 1 and _MIXED_NEGATIVES not in p.warnings:
            p.warnings.append(_MIXED_NEGATIVES)
        return [str(text) for text in p.prompts], str(negatives[0]), list(p.seeds), list(p.subseeds)

    def record(self, index: int, prompt: str, negative: str, seed: int, subseed: int) -> tuple[str, str]:
        """Image `index` of the job was made from these: (prompt, negative) as its infotext shows
        them, with the job's extra-network tags (those applied); p.all_* updated to match."""
        p = self.p
        shown = (
            _as_recorded(_entry(p.all_prompts, index), prompt, self.shown_prompt),
            _as_recorded(_entry(p.all_negative_prompts, index), negative, self.shown_negative),
        )
        for values, value in zip((p.all_prompts, p.all_negative_prompts, p.all_seeds, p.all_subseeds),
                                 (*shown, seed, subseed), strict=True):  # fmt: skip
            if index < len(values):
                values[index] = value
        return shown


_IGNORED_TAGS = "extra-network tags in one image's prompt are not applied (networks follow the job's prompt): "
_MIXED_NEGATIVES = "the images of a batch share one negative prompt: the first one given for the batch was used"


def _entry(values: list, index: int):
    return values[index] if index < len(values) else None


def _tags(text: str) -> list[str]:
    return [match[0] for match in TAG.finditer(text)]


def _as_recorded(listed: str | None, used: str, job_text: str) -> str:
    """The image's text for its infotext. The job list's entry when it is what was encoded, tags
    aside, and carries the tags that were applied (the job's); otherwise the encoded text with the
    job's tags after it, so that pasting it back makes the same picture."""
    applied = _tags(job_text)
    if listed is not None and strip_tags(listed)[0] == used and _tags(listed) == applied:
        return listed
    return " ".join([used, *applied]) if applied else used
