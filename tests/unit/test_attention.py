"""Every attention backend gives the tiny UNet the same output as plain attention (within float
rounding); the sub-quadratic one really works in chunks."""

import argparse

import pytest
import torch

from modules.attention import (
    PLAIN,
    SDP,
    SDP_NO_MEM,
    SPLIT,
    SUB_QUAD,
    AttentionBackend,
    SubQuadraticProcessor,
    backend_for,
)
from modules.config.flags import parse_flags
from tests.fixtures.tiny_model import build_modules

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def tiny():
    unet, vae, _text = build_modules(seed=3)
    generator = torch.Generator().manual_seed(5)
    sample = torch.randn(1, unet.config.in_channels, 16, 16, generator=generator)
    context = torch.randn(1, 7, unet.config.cross_attention_dim, generator=generator)
    return argparse.Namespace(unet=unet, vae=vae), sample, context


def unet_output(model, backend: AttentionBackend, sample, context) -> torch.Tensor:
    backend.apply(model)
    with torch.no_grad():
        return model.unet(sample, 10, encoder_hidden_states=context).sample


@pytest.mark.parametrize(
    "backend",
    [
        AttentionBackend(SDP),
        AttentionBackend(SDP_NO_MEM),
        AttentionBackend(SPLIT),
        AttentionBackend(SUB_QUAD, q_chunk=16),
        AttentionBackend(SUB_QUAD, q_chunk=16, kv_chunk=5),
    ],  # fmt: skip
    ids=lambda backend: backend.describe(),
)
def test_backend_matches_plain_attention(tiny, backend):
    model, sample, context = tiny
    plain = unet_output(model, AttentionBackend(PLAIN), sample, context)
    ours = unet_output(model, backend, sample, context)
    diff = (ours - plain).abs().max().item()
    assert diff < TOLERANCE, f"{backend.describe()}: max abs diff {diff:.3g}"
    assert plain.abs().max() > 0.01  # a real output, not zeros


def test_backend_is_installed_on_unet_and_vae(tiny):
    model, _sample, _context = tiny
    AttentionBackend(SUB_QUAD, q_chunk=16).apply(model)
    for part in (model.unet, model.vae):
        kinds = {type(proc).__name__ for proc in part.attn_processors.values()}
        assert kinds == {"SubQuadraticProcessor"}


def test_sub_quadratic_really_chunks():
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, n, 8, generator=generator) for n in (64, 40, 40))
    scale = 8**-0.5
    whole = torch.softmax(q @ k.transpose(-1, -2) * scale, dim=-1) @ v
    chunked = SubQuadraticProcessor(q_chunk=16, kv_chunk=7).attention(q, k, v, None, scale)
    one_piece = SubQuadraticProcessor(q_chunk=64).attention(q, k, v, None, scale)
    bigger = SubQuadraticProcessor(q_chunk=4096).attention(q, k, v, None, scale)
    diff = (chunked - whole).abs().max().item()
    assert diff < 1e-5, f"chunked vs whole: max abs diff {diff:.3g}"
    assert torch.equal(one_piece, bigger)  # a chunk larger than the sequence is one piece

    class Recording(SubQuadraticProcessor):
        def _kv_chunked(self, query, key, value, mask, scale):
            seen.append(query.shape[-2])
            return super()._kv_chunked(query, key, value, mask, scale)

    seen = []
    Recording(q_chunk=16).attention(q, k, v, None, scale)
    assert seen == [16, 16, 16, 16]
    seen.clear()
    Recording(q_chunk=4096).attention(q, k, v, None, scale)
    assert seen == [64]


def test_sub_quadratic_mask_is_applied():
    generator = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 2, n, 4, generator=generator) for n in (10, 6, 6))
    mask = torch.zeros(1, 2, 10, 6)
    mask[..., 3:] = -10000.0
    expected = torch.softmax(q @ k.transpose(-1, -2) * 0.5 + mask, dim=-1) @ v
    got = SubQuadraticProcessor(q_chunk=3, kv_chunk=2).attention(q, k, v, mask, 0.5)
    assert (got - expected).abs().max().item() < 1e-5


@pytest.mark.parametrize(
    ("argv", "description"),
    [
        ([], "sdp (scaled dot product)"),
        (["--opt-sdp-attention"], "sdp (scaled dot product)"),
        (["--opt-sub-quad-attention"], "sub-quadratic (q chunk 1024)"),
        (
            ["--opt-sub-quad-attention", "--sub-quad-q-chunk-size", "64", "--sub-quad-kv-chunk-size", "32"],
            "sub-quadratic (q chunk 64, kv chunk 32)",
        ),  # fmt: skip
        (["--opt-split-attention"], "split (sliced attention, half the heads at a time)"),
        (["--disable-opt-split-attention"], "plain (unoptimized attention)"),
    ],
)
def test_flags_choose_the_backend(argv, description):
    assert backend_for(parse_flags(argv)).describe() == description


@pytest.mark.skipif(torch.cuda.is_available(), reason="the fallback is for machines without CUDA")
@pytest.mark.parametrize("flag", ["--xformers", "--force-enable-xformers"])
def test_xformers_without_cuda_falls_back_to_sdp_with_the_reason(flag):
    backend = backend_for(parse_flags([flag]))
    assert backend.name == SDP
    assert backend.describe() == (
        "xformers unavailable: --xformers needs an NVIDIA GPU and the xformers package; this machine has no "
        "CUDA device -> sdp (scaled dot product)"
    )


def test_bad_chunk_size_is_refused():
    with pytest.raises(SystemExit):
        parse_flags(["--sub-quad-q-chunk-size", "0"])


def test_footer_shows_the_attention_backend():
    from webui.page_additions import api_footer_html, with_api_footer

    described = backend_for(parse_flags(["--opt-sub-quad-attention"])).describe()
    with_api = api_footer_html(described)
    assert 'href="/docs"' in with_api and "attention: sub-quadratic (q chunk 1024)</span>" in with_api
    alone = api_footer_html("a <b> & c", api=False)
    assert "/docs" not in alone and "attention: a &lt;b&gt; &amp; c</span>" in alone
    assert "attention: sdp (scaled dot product)" in with_api_footer("() => {}", "sdp (scaled dot product)", api=False)
    assert "attention" not in api_footer_html()  # unchanged when not given
