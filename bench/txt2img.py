"""Our txt2img engine against plain diffusers StableDiffusionPipeline, same model, same run.

    venv/bin/python bench/txt2img.py [--tiny] [--steps 20] [--size N] [--repeats 5] [--sampler "Euler a"]

By default it runs the bundled demo model at its own size (128x128); `--tiny` runs the tiny
random-weight SD 1.x test model (built in a temp folder, 512x512 by default); `--full-size`
builds the real SD 1.5 architecture (859 M-parameter UNet) with random weights and runs it at
512x512 with few steps (slow on a CPU: ~16 s per step). Both paths get the
same prompt, sampler, steps, size, CFG and seed; runs alternate so drift hits both alike.
Prints the median seconds per image of each, the largest pixel difference between the two
images, and last `ratio <ours/diffusers>`.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=None, help="default: 20 (2 with --full-size)")
    parser.add_argument("--size", type=int, default=None, help="default: 128 for the demo model, 512 with --tiny")
    parser.add_argument("--tiny", action="store_true", help="the tiny random test model instead of the demo model")
    parser.add_argument("--full-size", action="store_true", help="SD 1.5's architecture, random weights, 512x512")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sampler", default="Euler a")
    args = parser.parse_args()

    import numpy as np
    import torch
    from diffusers import StableDiffusionPipeline

    from modules.config.flags import parse_flags
    from modules.engine import Engine
    from modules.processing.request import Txt2ImgRequest
    from modules.sampling import catalog
    from tests.fixtures.tiny_model import save_single_file

    work = Path(tempfile.mkdtemp(prefix="bench-"))
    if args.full_size:
        save_full_size(work / "models" / "Stable-diffusion" / "sd15-random.safetensors")
        engine = Engine.from_flags(parse_flags(["--data-dir", str(work), "--no-demo-model"]))
    elif args.tiny:
        save_single_file(work / "models" / "Stable-diffusion" / "tiny.safetensors")
        engine = Engine.from_flags(parse_flags(["--data-dir", str(work), "--no-demo-model"]))
    else:
        engine = Engine.from_flags(parse_flags(["--data-dir", str(work)]))  # only the bundled demo model
    model = engine.models.get(None)
    checkpoint = model.info.path
    args.size = args.size or (512 if args.tiny or args.full_size else 128)
    args.steps = args.steps or (2 if args.full_size else 20)
    spec, schedule = catalog.resolve(args.sampler)
    pipe = StableDiffusionPipeline(
        vae=model.vae,
        text_encoder=model.text_encoder,
        tokenizer=model.tokenizer,
        unet=model.unet,
        scheduler=spec.build(model.scheduler_config, schedule),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    prompt, negative, seed, cfg = "a red circle on a white background", "blurry", 1234, 7.0
    request = Txt2ImgRequest(
        prompt=prompt,
        negative_prompt=negative,
        steps=args.steps,
        sampler_name=spec.name,
        scheduler=schedule,
        cfg_scale=cfg,
        width=args.size,
        height=args.size,
        seed=seed,
        save_images=False,
    )

    def ours():
        return np.asarray(engine.submit_txt2img(request).outcome().images[0].image)

    def theirs():
        generator = [torch.Generator("cpu").manual_seed(seed)]
        image = pipe(
            prompt,
            negative_prompt=negative,
            num_inference_steps=args.steps,
            guidance_scale=cfg,
            width=args.size,
            height=args.size,
            generator=generator,
        ).images[0]
        return np.asarray(image)

    ours(), theirs()  # warm-up: first calls pay for allocations and lazy imports
    times = {"ours": [], "diffusers": []}
    images = {}
    for _ in range(args.repeats):
        for name, fn in (("ours", ours), ("diffusers", theirs)):
            start = time.perf_counter()
            images[name] = fn()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    diff = np.abs(images["ours"].astype(int) - images["diffusers"].astype(int)).max()
    print(f"model {checkpoint.name}, {spec.name}/{schedule}, {args.steps} steps, {args.size}x{args.size}, CFG {cfg}")
    print(f"torch threads {torch.get_num_threads()}, repeats {args.repeats}")
    print(f"ours      median {medians['ours']:.3f} s/image")
    print(f"diffusers median {medians['diffusers']:.3f} s/image")
    print(f"max pixel difference ours vs diffusers: {diff}")
    print(f"ratio {medians['ours'] / medians['diffusers']:.3f}")
    engine.queue.shutdown()


def save_full_size(path: Path) -> None:
    """SD 1.5's UNet, VAE and CLIP text encoder from the carried configs, random weights (fp16 on
    disk to halve the file; loaded as fp32 on the CPU like any checkpoint)."""
    import json

    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from modules.models.ldm_layout import save_single_file as write_single_file
    from modules.models.loading import SD1_CONFIG_DIR

    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config(json.loads((SD1_CONFIG_DIR / "unet" / "config.json").read_text()))
    vae = AutoencoderKL.from_config(json.loads((SD1_CONFIG_DIR / "vae" / "config.json").read_text()))
    text_encoder = CLIPTextModel(CLIPTextConfig.from_json_file(SD1_CONFIG_DIR / "text_encoder" / "config.json"))
    write_single_file(unet.eval(), vae.eval(), text_encoder.eval(), path, dtype=torch.float16)


if __name__ == "__main__":
    main()
