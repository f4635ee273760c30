"""Generate from captions and check the pictures with plain OpenCV measurements."""

import random
from dataclasses import dataclass

import numpy as np

from modules.processing.batch_loop import SamplingParams, encode_conditioning, sample_images
from modules.sampling import catalog
from modules.training import shapes
from modules.training.judge import Verdict, agreement, judge


@dataclass(frozen=True)
class EvalSettings:
    cfg_scale: float = 7.0
    steps: int = 20
    sampler: str = "Euler a"
    size: int = 128
    negative_prompt: str = ""
    seed: int = 1000


def evaluation_scenes(count: int, held_out: bool, seed: int = 0) -> list[shapes.Scene]:
    """Single-object scenes: either only held-out combinations or only ones seen in training."""
    held = shapes.held_out_combos()
    rng = random.Random(seed + (7 if held_out else 0))
    scenes = []
    while len(scenes) < count:
        scene = shapes.random_scene(rng, two_object_rate=0.0)
        if (scene.combo() in held) == held_out:
            scenes.append(scene)
    return scenes


def generate(model, prompt: str, settings: EvalSettings, seed: int) -> np.ndarray:
    spec, schedule = catalog.resolve(settings.sampler)
    conditioning = encode_conditioning(model, prompt, settings.negative_prompt, settings.cfg_scale)
    params = SamplingParams(settings.steps, spec, schedule, settings.cfg_scale, settings.size, settings.size)
    images, _ = sample_images(model, conditioning, [seed], params)
    return np.asarray(images[0])


def evaluate(model, scenes: list[shapes.Scene], settings: EvalSettings) -> tuple[dict, list[Verdict]]:
    verdicts = [judge(generate(model, s.caption, settings, settings.seed + i)) for i, s in enumerate(scenes)]
    return agreement(verdicts, [s.combo() for s in scenes]), verdicts


def format_scores(label: str, scores: dict) -> str:
    return (
        f"{label}: colour {scores['colour']:.0%} shape {scores['shape']:.0%} "
        f"background {scores['background']:.0%} (n={scores['count']})"
    )
