"""Skip, Interrupt and live previews on a running job (tiny model, real queue and threads)."""

import time

import numpy as np

from modules.processing.request import Txt2ImgRequest


def start(engine, **fields):
    base = {"prompt": "a cat", "steps": 60, "width": 64, "height": 64, "seed": 3, "save_images": False}
    return engine.submit_txt2img(Txt2ImgRequest(**{**base, **fields}))


def wait_for_step(job, batch_index=0, step=2, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if job.batch_index >= batch_index and job.step >= step:
            return
        time.sleep(0.01)
    raise TimeoutError(f"job never reached batch {batch_index} step {step}")


def test_skip_ends_only_the_current_batch(engine):
    job = start(engine, n_iter=2)
    wait_for_step(job, 0, 3)
    job.skip()
    result = job.outcome()
    assert len(result.images) == 2 and not result.interrupted
    full_second = engine.submit_txt2img(Txt2ImgRequest(prompt="a cat", steps=60, width=64, height=64, seed=4,
                                                       save_images=False)).outcome()  # fmt: skip
    assert np.array_equal(np.asarray(result.images[1].image), np.asarray(full_second.images[0].image))


def test_interrupt_stops_within_a_step_and_returns_what_was_made(engine):
    job = start(engine, n_iter=3)
    wait_for_step(job, 0, 3)
    stepped_at = job.step
    job.interrupt()
    result = job.outcome()
    assert result.interrupted and len(result.images) == 1
    assert job.step <= stepped_at + 2  # the step running when pressed, at most one more


def test_live_previews_every_n_steps(engine):
    engine.settings.update({"show_progress_every_n_steps": 2, "show_progress_type": "Approx cheap"})
    try:
        job = start(engine, steps=30)
        wait_for_step(job, 0, 6)
        cheap = job.preview
        job.outcome()
        engine.settings.update({"show_progress_type": "Full"})
        job = start(engine, steps=30)
        wait_for_step(job, 0, 6)
        full = job.preview
        job.outcome()
        engine.settings.update({"show_progress_every_n_steps": 0})
        off = start(engine, steps=4)
        off.outcome()
    finally:
        engine.settings.update({"show_progress_every_n_steps": 10, "show_progress_type": "Approx cheap"})
    assert cheap is not None and cheap.size == (8, 8)  # latent resolution: 64 / 8
    assert full is not None and full.size == (64, 64)
    assert off.preview is None


def test_taesd_previews_from_models_vae_approx(engine, tmp_path):
    import torch
    from diffusers import AutoencoderTiny

    from modules.images.previews import TaesdDecoder

    torch.manual_seed(0)
    reference = AutoencoderTiny().eval()
    decoder_state = {k: v for k, v in reference.state_dict().items() if k.startswith("decoder.")}
    # madebyollin's own layout: a Sequential whose index 0 is a clamp.
    own_layout = {f"{int(k.split('.')[2]) + 1}.{k.split('.', 3)[3]}": v for k, v in decoder_state.items()}
    folder = tmp_path / "VAE-approx"
    folder.mkdir()
    torch.save(own_layout, folder / "taesd_decoder.pth")
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = reference.decode(latents).sample[0]
    expected = ((expected.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(np.asarray(TaesdDecoder(folder).preview(latents)), expected)
    assert TaesdDecoder(tmp_path / "missing").preview(latents) is None

    vae_approx = engine.paths.models_dir / "VAE-approx"
    vae_approx.mkdir(exist_ok=True)
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in decoder_state.items()}, str(vae_approx / "taesd_decoder.safetensors"))
    engine.settings.update({"show_progress_every_n_steps": 2, "show_progress_type": "TAESD"})
    try:
        job = start(engine, steps=30)
        wait_for_step(job, 0, 6)
        preview = job.preview
        job.outcome()
    finally:
        engine.settings.update({"show_progress_every_n_steps": 10, "show_progress_type": "Approx cheap"})
        (vae_approx / "taesd_decoder.safetensors").unlink()
    assert preview is not None and preview.size == (64, 64)  # TAESD upsamples 8x, like the VAE
