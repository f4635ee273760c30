"""Helpers the built-in Script-menu scripts share: gathering the pictures of several
`p.process()` calls into one GenerationResult, and planning the job's progress."""

import dataclasses

from modules.processing.result import GeneratedImage, GenerationResult


def plan_parts(p, count: int) -> None:
    """Tell the job how many generations this script will run, so progress counts them all."""
    if p.job is not None and hasattr(p.job, "plan_parts"):
        p.job.plan_parts(count)


def interrupted(p) -> bool:
    """True once the user pressed Interrupt: a script stops starting new generations."""
    return bool(p.job is not None and getattr(p.job, "interrupted", False))


def combine(p, results: list[GenerationResult], images: list[GeneratedImage] | None = None) -> GenerationResult:
    """One result from several generations: the first one's job fields, every picture (or
    `images` when the script chose which to keep), all warnings once, interrupted if any was.
    None made (interrupted before the first): an empty, interrupted result of the request."""
    if not results:
        return _empty(p)
    first = results[0]
    warnings: list[str] = []
    for result in results:
        warnings.extend(w for w in result.warnings if w not in warnings)
    save_error = next((r.save_error for r in results if r.save_error), None)
    kept = images if images is not None else [item for result in results for item in result.images]
    return dataclasses.replace(
        first,
        images=list(kept),
        warnings=warnings,
        interrupted=any(r.interrupted for r in results),
        save_error=save_error,
    )


def _empty(p) -> GenerationResult:
    request = p.request
    return GenerationResult(
        images=[],
        prompt=p.prompt,
        negative_prompt=p.negative_prompt,
        seed=p.seed,
        width=p.width,
        height=p.height,
        sampler_name=request.sampler_name,
        scheduler=request.scheduler,
        steps=p.steps,
        cfg_scale=p.cfg_scale,
        batch_size=request.batch_size,
        model_name=p.model.info.model_name,
        model_hash=p.model.short_hash,
        interrupted=True,
        warnings=list(p.warnings),
    )


def mode_of(p) -> str:
    """The tab the job belongs to: where its grid is saved."""
    return "img2img" if p.request.init_images else "txt2img"


def setting(p, key: str, default):
    """A setting of the job, or `default` where this build does not declare it."""
    try:
        return p.settings.get(key)
    except (KeyError, ValueError):
        return default
