"""The prompt language on two-encoder models: each 75-token chunk (BREAK, long prompts) of an SDXL
prompt is encoded as diffusers' SDXL pipeline encodes that chunk's text alone (both encoders'
penultimate layers concatenated, OpenCLIP's "!" padding), the pooled output is the first chunk's,
and attention weights change the hidden states but not the pooled output."""

import torch
from diffusers import StableDiffusionXLPipeline

from modules.models.loading import LoadedModel
from modules.prompts.conditioning import EncodeOptions, PromptEncoder
from tests.fixtures.tiny_families import build_tiny_family


def sdxl():
    parts = build_tiny_family("sdxl", seed=8)
    model = LoadedModel(info=None, sha256="0" * 64, family="sdxl", unet=parts["unet"], vae=parts["vae"],
                        text_encoder=parts["text_encoder"], tokenizer=parts["tokenizer"], scheduler_config={},
                        text_encoder_2=parts["text_encoder_2"], tokenizer_2=parts["tokenizer_2"])  # fmt: skip
    pipe = StableDiffusionXLPipeline(vae=parts["vae"], text_encoder=parts["text_encoder"],
                                     tokenizer=parts["tokenizer"], text_encoder_2=parts["text_encoder_2"],
                                     tokenizer_2=parts["tokenizer_2"], unet=parts["unet"],
                                     scheduler=parts["scheduler"])  # fmt: skip
    return model, pipe


def diffusers_encoding(pipe, text: str):
    with torch.inference_mode():
        hidden, _, pooled, _ = pipe.encode_prompt(text, device="cpu", do_classifier_free_guidance=False)
    return hidden[0], pooled[0]


def test_break_chunks_and_pooled_output_match_the_sdxl_pipeline():
    model, pipe = sdxl()
    encoder = PromptEncoder(model, EncodeOptions())
    ours = encoder.conditioning("a red fox in the snow BREAK a lighthouse at dusk")
    first, first_pooled = diffusers_encoding(pipe, "a red fox in the snow")
    second, _ = diffusers_encoding(pipe, "a lighthouse at dusk")
    assert ours.hidden.shape == (154, 32 + 48)
    torch.testing.assert_close(ours.hidden[:77], first, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.hidden[77:], second, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.pooled, first_pooled, atol=1e-5, rtol=1e-5)


def test_attention_weights_change_the_hidden_states_not_the_pooled_output():
    model, _ = sdxl()
    encoder = PromptEncoder(model, EncodeOptions())
    plain, weighted = encoder.conditioning("a red fox"), encoder.conditioning("a (red:1.5) fox")
    assert not torch.allclose(plain.hidden, weighted.hidden, atol=1e-4)
    torch.testing.assert_close(plain.pooled, weighted.pooled)
