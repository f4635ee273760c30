"""Our img2img and inpainting against plain diffusers' img2img and inpaint pipelines, same model, same run.

    venv/bin/python bench/img2img.py [--steps 20] [--strength 0.75] [--size 128] [--repeats 3] [--sampler Euler]

One process, the bundled demo model (models/Stable-diffusion/) at its own size (128x128). The
diffusers pipelines (`StableDiffusionImg2ImgPipeline`, and `StableDiffusionInpaintPipeline` with
the same 4-channel UNet: it blends the noised init latents into every step) are built from the
components our engine loaded (no download), each with its own scheduler from the same sampler
spec (Euler: EulerDiscreteScheduler both sides). Both sides get the same init picture (a red
circle on white), prompt, CFG, seed, step count and denoising strength; ours runs with
save_images False and live previews off. The inpaint case is A1111's "Whole picture", masked
content "original", mask blur 0, the mask a square over the circle.

The two count steps differently: ours runs A1111's `int(min(strength, 0.999) * steps) + 1`
steps (16 of 20 at 0.75), diffusers `int(steps * strength)` (15). So the comparison is per
denoising step: a forward hook counts the UNet calls of every run, and each run's wall time
(everything: prompt encoding, VAE encode and decode, PIL work) is divided by its UNet calls.
Runs alternate so drift hits both alike; the medians over `--repeats` are printed. What the
per-step figure leaves in: fixed costs (VAE encode and decode, ~50 ms of a ~700 ms picture here)
are shared by one more step on our side (~0.5% in our favour), and diffusers' inpaint pipeline
encodes the picture twice (the image and the masked image, which only a 9-channel UNet uses);
ours once. Our prompt encoding is cached between runs, as it is between jobs in the web UI.

The pixel check is for img2img only: one more (untimed) diffusers run from our init latents,
started at our step (strength run_steps / steps), should give our picture. The inpaint
pipelines blend differently (A1111 blends each step's predicted clean latent, diffusers the
re-noised init after the step), so there it prints how far each moved the pixels outside the
mask (ours lays the original back over them: 0).

The last line is `ratio <ours/diffusers>`: the mean over img2img and inpaint of ours per step /
diffusers per step (goal <= 1.03).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class UNetCalls:
    """Counts forward calls of a module (a forward hook; one call per step, CFG batched)."""

    def __init__(self, module):
        self.count = 0
        self._handle = module.register_forward_hook(self._seen)

    def _seen(self, module, inputs, output) -> None:
        self.count += 1

    def remove(self) -> None:
        self._handle.remove()


def test_pictures(size: int):
    """The init picture (a red circle on white with a grey band) and the inpaint mask (white = inpaint:
    a square over the circle)."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(picture)
    draw.ellipse((size * 0.25, size * 0.25, size * 0.75, size * 0.75), fill=(220, 30, 30))
    draw.rectangle((0, size * 0.85, size, size), fill=(128, 128, 128))
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rectangle((size * 0.2, size * 0.2, size * 0.8, size * 0.8), fill=255)
    return picture, mask


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--strength", type=float, default=0.75, help="denoising strength, both sides")
    parser.add_argument("--size", type=int, default=128, help="default: the demo model's own 128")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sampler", default="Euler")
    args = parser.parse_args()
    if not 0 < args.strength <= 1:
        parser.error("--strength must be in (0, 1]: at 0 no step runs, so there is nothing per step to compare")
    if int(args.steps * args.strength) < 1:
        parser.error("--steps x --strength must be at least 1: diffusers runs int(steps * strength) steps")

    import numpy as np
    import torch
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionInpaintPipeline

    from modules.config.flags import parse_flags
    from modules.engine import Engine
    from modules.processing.hires import encode_images
    from modules.processing.img2img_init import img2img_steps
    from modules.processing.request import Img2ImgRequest
    from modules.sampling import catalog

    work = Path(tempfile.mkdtemp(prefix="bench-"))
    engine = Engine.from_flags(parse_flags(["--data-dir", str(work)]))  # only the bundled demo model
    model = engine.models.get(None)
    checkpoint = model.info.path
    spec, schedule = catalog.resolve(args.sampler)
    components = {
        "vae": model.vae,
        "text_encoder": model.text_encoder,
        "tokenizer": model.tokenizer,
        "unet": model.unet,
        "safety_checker": None,
        "feature_extractor": None,
        "requires_safety_checker": False,
    }
    pipes = {
        "img2img": StableDiffusionImg2ImgPipeline(scheduler=spec.build(model.scheduler_config, schedule), **components),
        "inpaint": StableDiffusionInpaintPipeline(scheduler=spec.build(model.scheduler_config, schedule), **components),
    }
    for pipe in pipes.values():
        pipe.set_progress_bar_config(disable=True)
    picture, mask = test_pictures(args.size)
    prompt, negative, seed, cfg = "a blue circle on a white background", "blurry", 1234, 7.0
    common = {
        "prompt": prompt,
        "negative_prompt": negative,
        "steps": args.steps,
        "sampler_name": spec.name,
        "scheduler": schedule,
        "cfg_scale": cfg,
        "width": args.size,
        "height": args.size,
        "seed": seed,
        "denoising_strength": args.strength,
        "init_images": [picture],
        "save_images": False,
        "override_settings": {"show_progress_every_n_steps": 0},  # no live previews (diffusers makes none)
    }
    requests = {
        "img2img": Img2ImgRequest(**common),
        "inpaint": Img2ImgRequest(**common, mask=mask, mask_blur=0, inpainting_fill=1, inpaint_full_res=False),
    }

    def ours(case: str):
        return np.asarray(engine.submit_img2img(requests[case]).outcome().images[0].image)

    def theirs(case: str, image=None, strength: float = args.strength):
        extra = {"mask_image": mask, "width": args.size, "height": args.size} if case == "inpaint" else {}
        result = pipes[case](
            prompt,
            image=picture if image is None else image,
            negative_prompt=negative,
            num_inference_steps=args.steps,
            strength=strength,
            guidance_scale=cfg,
            generator=[torch.Generator("cpu").manual_seed(seed)],
            **extra,
        )
        return np.asarray(result.images[0])

    calls = UNetCalls(model.unet)
    runs = [(case, side) for case in ("img2img", "inpaint") for side in ("ours", "diffusers")]

    def run(case: str, side: str):
        before = calls.count
        start = time.perf_counter()
        image = ours(case) if side == "ours" else theirs(case)
        return image, time.perf_counter() - start, calls.count - before

    for case, side in runs:  # warm-up: first calls pay for allocations and lazy imports
        run(case, side)
    seconds = {key: [] for key in runs}
    per_step = {key: [] for key in runs}
    unet_calls, images = {}, {}
    for _ in range(args.repeats):
        for key in runs:
            images[key], elapsed, unet_calls[key] = run(*key)
            seconds[key].append(elapsed)
            per_step[key].append(elapsed / max(unet_calls[key], 1))
    calls.remove()
    image_median = {key: statistics.median(values) for key, values in seconds.items()}
    step_median = {key: statistics.median(values) for key, values in per_step.items()}

    # Pixel check (untimed): diffusers started from our init latents at our first step.
    schedule_steps, run_steps = img2img_steps(args.steps, args.strength, False)
    matched = min(1.0, (run_steps + 0.5) / schedule_steps)  # int(steps * matched) == run_steps
    init_latents = encode_images(model, [picture])
    same_start = theirs("img2img", image=init_latents, strength=matched)
    img2img_diff = np.abs(images[("img2img", "ours")].astype(int) - same_start.astype(int)).max()
    outside = np.asarray(mask) < 128
    original = np.asarray(picture).astype(int)
    moved = {side: np.abs(images[("inpaint", side)].astype(int) - original)[outside] for side in ("ours", "diffusers")}

    print(f"model {checkpoint.name}, {spec.name}/{schedule}, {args.steps} steps, strength {args.strength}, "
          f"{args.size}x{args.size}, CFG {cfg}")  # fmt: skip
    print(f"torch threads {torch.get_num_threads()}, repeats {args.repeats}")
    for case, side in runs:
        print(f"{case:8} {side:9} {unet_calls[(case, side)]:3d} UNet calls  median {image_median[(case, side)]:.3f} "
              f"s/image  {step_median[(case, side)]:.4f} s/step")  # fmt: skip
    ratios = {case: step_median[(case, "ours")] / step_median[(case, "diffusers")] for case in ("img2img", "inpaint")}
    for case, value in ratios.items():
        print(f"{case:8} ratio per step ours/diffusers {value:.3f}")
    print(f"img2img max pixel difference ours vs diffusers from our init latents and start step: {img2img_diff}")
    print(f"inpaint pixel change outside the mask (max/mean): ours {moved['ours'].max()}/{moved['ours'].mean():.2f}, "
          f"diffusers {moved['diffusers'].max()}/{moved['diffusers'].mean():.2f}")  # fmt: skip
    print(f"ratio {statistics.mean(ratios.values()):.3f}")
    engine.queue.shutdown()


if __name__ == "__main__":
    main()
