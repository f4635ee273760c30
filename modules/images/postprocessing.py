"""Extras: run the chosen post-processing steps (contributed by extensions) on one image."""

from PIL import Image
from pydantic import BaseModel, ValidationError

from modules.plugins.types import StepContext


class PostprocessingError(ValueError):
    """A step was unknown, got bad arguments or refused the image; the message says which."""


def parse_step_args(registry, raw: dict[str, dict]) -> list[tuple[object, BaseModel]]:
    """{step name: args dict} -> [(step, Args instance)] in the steps' own order."""
    by_name = {step.name.lower(): step for step in registry.steps}
    chosen = []
    for name, args in raw.items():
        step = by_name.get(name.lower())
        if step is None:
            known = ", ".join(repr(s.name) for s in registry.steps) or "none"
            raise PostprocessingError(f"unknown post-processing step {name!r}; known: {known}")
        try:
            chosen.append((step, step.Args.model_validate(args or {})))
        except ValidationError as error:
            reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise PostprocessingError(f"{step.name}: {reasons}") from error
    return sorted(chosen, key=lambda pair: pair[0].order)


def run_steps(engine, image: Image.Image, chosen: list[tuple[object, BaseModel]]) -> Image.Image:
    # A snapshot: a setting changed while the steps run does not change them halfway.
    context = StepContext(settings=engine.settings.snapshot(), models_dir=engine.paths.models_dir)
    for step, args in chosen:
        try:
            image = step.run(image, args, context)
        except (ValueError, LookupError, OSError) as error:
            raise PostprocessingError(f"{step.name}: {error}") from error
        except Exception as error:
            owner = engine.plugins.step_owner.get(step.name, step.name)
            engine.extensions.report_error(owner, f"{step.name}: {type(error).__name__}: {error}")
            raise PostprocessingError(f"{step.name} failed: {type(error).__name__}: {error}") from error
    return image
