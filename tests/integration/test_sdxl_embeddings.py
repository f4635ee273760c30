"""Textual inversion on SDXL: an embedding file with one part per text encoder (clip_l, clip_g) used in a
prompt gives the picture of diffusers' SDXL pipeline whose two encoders learned those vectors as new
tokens (written by hand into copies); an SD 1.x embedding is skipped for SDXL with the reason."""

import copy

import numpy as np
import pytest
import torch
from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline
from safetensors.torch import save_file

from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine
from tests.fixtures.tiny_families import BIGG_TEXT_CONFIG, CLIP_L_TEXT_CONFIG, save_tiny_family

SIZE, STEPS, SEED, CFG = 64, 4, 13, 6.0
NEGATIVE = "blurry"
CHECKPOINT, REFINER = "xl.safetensors", "xl-refiner.safetensors"
VECTORS = 2
CLIP_L, CLIP_G = CLIP_L_TEXT_CONFIG["hidden_size"], BIGG_TEXT_CONFIG["hidden_size"]


def vectors(width: int, seed: int) -> torch.Tensor:
    # Token-embedding sized (the tiny encoders' own rows are ~N(0, 0.02)) but far from any real token.
    return torch.randn(VECTORS, width, generator=torch.Generator().manual_seed(seed)) * 0.5


@pytest.fixture(scope="module")
def xl(tmp_path_factory):
    models = tmp_path_factory.mktemp("xl-embedding-models")
    save_tiny_family("sdxl", models / "Stable-diffusion" / CHECKPOINT, seed=7)
    save_tiny_family("sdxl_refiner", models / "Stable-diffusion" / REFINER, seed=8)
    folder = models / "embeddings"
    folder.mkdir()
    parts = {"clip_l": vectors(CLIP_L, 1), "clip_g": vectors(CLIP_G, 2)}
    save_file(parts, str(folder / "glazestyle.safetensors"))
    # An SD 1.x embedding (one part) whose width happens to equal CLIP-L's: still no vectors for bigG.
    torch.save({"string_to_param": {"*": vectors(CLIP_L, 3)}, "name": "oldstyle"}, folder / "oldstyle.pt")
    engine = make_engine(tmp_path_factory.mktemp("xl-embedding-data"), "--models-dir", str(models))
    yield engine, parts
    engine.queue.shutdown()


def generate(engine, prompt: str, checkpoint: str = CHECKPOINT) -> tuple[np.ndarray, object]:
    request = Txt2ImgRequest(prompt=prompt, negative_prompt=NEGATIVE, steps=STEPS, width=SIZE, height=SIZE,
                             seed=SEED, cfg_scale=CFG, sampler_name="Euler", checkpoint=checkpoint,
                             save_images=False)  # fmt: skip
    result = engine.submit_txt2img(request).outcome()
    return np.asarray(result.images[0].image, dtype=np.int16), result


def with_new_tokens(tokenizer, encoder, tokens: list[str], rows: torch.Tensor):
    """Copies of a tokenizer and its encoder that know `tokens`, their input embeddings set to `rows`."""
    tokenizer, encoder = copy.deepcopy(tokenizer), copy.deepcopy(encoder)
    assert tokenizer.add_tokens(tokens) == len(tokens)
    encoder.resize_token_embeddings(len(tokenizer))
    ids = tokenizer.convert_tokens_to_ids(tokens)
    with torch.no_grad():
        encoder.get_input_embeddings().weight[ids] = rows.to(encoder.dtype)
    # With the configs' legacy eos_token_id (2) CLIP pools at the highest id, which the new tokens
    # now are; the real end token is where the pooled output belongs (as for the original prompt).
    for module in encoder.modules():
        if hasattr(module, "eos_token_id"):
            module.eos_token_id = tokenizer.eos_token_id
    return tokenizer, encoder


def test_sdxl_embedding_matches_tokens_learned_by_both_encoders(xl):
    engine, parts = xl
    plain, _ = generate(engine, "a teapot on a shelf")
    ours, result = generate(engine, "a teapot on a shelf, glazestyle")
    assert not result.warnings, result.warnings
    assert np.abs(ours - plain).max() > 8

    model = engine.models.get(CHECKPOINT)
    tokens = [f"<glaze-{i}>" for i in range(VECTORS)]
    tokenizer, text_encoder = with_new_tokens(model.tokenizer, model.text_encoder, tokens, parts["clip_l"])
    tokenizer_2, text_encoder_2 = with_new_tokens(model.tokenizer_2, model.text_encoder_2, tokens, parts["clip_g"])
    pipe = StableDiffusionXLPipeline(vae=model.vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                     text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2, unet=model.unet,
                                     scheduler=EulerDiscreteScheduler.from_config(model.scheduler_config))  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    with torch.inference_mode():
        images = pipe(prompt="a teapot on a shelf, " + "".join(tokens), negative_prompt=NEGATIVE,
                      num_inference_steps=STEPS, guidance_scale=CFG, generator=torch.Generator().manual_seed(SEED),
                      output_type="np", height=SIZE, width=SIZE).images  # fmt: skip
    theirs = np.round(images[0] * 255).astype(np.int16)
    assert np.abs(ours - theirs).max() <= 1


def test_each_encoder_gets_its_own_part(xl):
    engine, parts = xl
    embedding = engine.embeddings_for(engine.models.get(CHECKPOINT)).embeddings["glazestyle"]
    assert torch.equal(embedding.vectors_for(CLIP_L), parts["clip_l"])
    assert torch.equal(embedding.vectors_for(CLIP_G), parts["clip_g"])
    assert embedding.vector_count == VECTORS


def test_the_refiner_uses_the_clip_g_part(xl):
    """The refiner has only the bigG encoder: the same file serves it with its clip_g vectors."""
    engine, parts = xl
    plain, _ = generate(engine, "a teapot on a shelf", checkpoint=REFINER)
    image, result = generate(engine, "a teapot on a shelf, glazestyle", checkpoint=REFINER)
    assert not result.warnings, result.warnings
    database = engine.embeddings_for(engine.models.get(REFINER))
    embedding = database.embeddings["glazestyle"]
    assert embedding.format == "sdxl:clip_g" and torch.equal(embedding.vectors, parts["clip_g"])
    assert np.abs(image - plain).max() > 0
    assert "oldstyle.pt" in database.skipped  # 32 values per vector; the refiner's encoder takes 48


def test_sd1_embedding_is_skipped_for_sdxl_with_the_reason(xl):
    engine, _ = xl
    model = engine.models.get(CHECKPOINT)
    _, result = generate(engine, "a teapot on a shelf, oldstyle")
    assert not result.warnings
    database = engine.embeddings_for(model)
    assert "oldstyle" not in database.embeddings and "glazestyle" in database.embeddings
    reason = database.skipped["oldstyle.pt"]
    assert f"{CLIP_L} and {CLIP_G}" in reason and f"the file has vectors {CLIP_L}" in reason
    # Its name stays plain text in a prompt: no vectors are found for its tokens.
    ids = model.tokenizer("oldstyle", add_special_tokens=False).input_ids
    assert database.find_at(ids, 0) is None
    assert database.find_at(model.tokenizer("glazestyle", add_special_tokens=False).input_ids, 0) is not None
