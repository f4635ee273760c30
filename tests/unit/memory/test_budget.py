"""The memory cap's estimate, against SD 1.5's measured peaks (FACTS.md) and through prepare()."""

import json
import os

import pytest

from modules.attention import PLAIN, SDP, SPLIT, SUB_QUAD, AttentionBackend
from modules.config.paths import BUNDLED_DEMO_MODEL
from modules.memory import budget
from modules.models.families import get as family
from modules.processing.prepare import prepare
from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine

GIB = budget.GIB
SD1_DIR = family("sd1").config_dir
SD15_UNET = json.loads((SD1_DIR / "unet" / "config.json").read_text())
SD15_VAE = json.loads((SD1_DIR / "vae" / "config.json").read_text())
# SD 1.5's parameters (FACTS.md: UNet 859.5 M) in fp32; text encoder 123 M, VAE 83.7 M.
UNET_WEIGHTS = int(859.5e6 * 4)
ALL_WEIGHTS = int((859.5e6 + 123.1e6 + 83.7e6) * 4)
# The estimate must stay within this factor of what was measured, both ways.
FACTOR = 1.15


def unet_call_peak(size: int, backend: str) -> float:
    """GiB of one CFG UNet call as FACTS.md measured it: the UNet's weights, the runtime, activations."""
    activations = budget.unet_activation_bytes(SD15_UNET, size, size, 2, AttentionBackend(backend))
    return (UNET_WEIGHTS + budget.RUNTIME_BYTES + activations) / GIB


@pytest.mark.parametrize(
    ("size", "backend", "measured_gib"),
    [(512, SDP, 4.1), (512, PLAIN, 5.9), (768, SDP, 4.5), (768, PLAIN, 14.2), (1024, SDP, 5.1)],
)
def test_the_unet_estimate_is_within_the_factor_of_the_measured_peak(size, backend, measured_gib):
    estimate = unet_call_peak(size, backend)
    assert measured_gib / FACTOR <= estimate <= measured_gib * FACTOR, (size, backend, estimate)


def test_plain_attention_at_1024_needs_the_16_gib_score_matrix_it_failed_to_allocate():
    # FACTS.md: classic attention at 1024^2 tries to allocate one 16 GiB tensor and fails.
    scores = budget.score_bytes(AttentionBackend(PLAIN), 128 * 128, 128 * 128, rows=2, heads=8)
    assert scores == 2 * 16 * GIB  # the scores and their softmax, 16 GiB each
    assert unet_call_peak(1024, PLAIN) > 32


def test_the_vae_decode_estimate_is_within_the_factor_of_the_measured_peak():
    # FACTS.md: SD 1.5 VAE decode ~1.6 GiB at 512^2 and 4.4 GiB at 1024^2 untiled (peak RSS).
    vae_weights = int(83.7e6 * 4) + budget.RUNTIME_BYTES
    for size, measured in ((512, 1.6), (1024, 4.4)):
        decode = budget.decode_bytes(SD15_VAE, budget.Shape(size, size), AttentionBackend(SDP), tiled=False)
        estimate = (decode + vae_weights) / GIB
        assert measured / FACTOR <= estimate <= measured * FACTOR, (size, estimate)
    tiled = budget.decode_bytes(SD15_VAE, budget.Shape(2048, 2048), AttentionBackend(SDP), tiled=True)
    whole = budget.decode_bytes(SD15_VAE, budget.Shape(2048, 2048), AttentionBackend(SDP), tiled=False)
    assert tiled < 2 * GIB < 16 * GIB <= whole


def test_plain_attention_at_2048_exceeds_8_gib_and_sdpa_at_512_fits():
    cap = 8 * GIB
    plain = budget.estimate(SD15_UNET, SD15_VAE, budget.Shape(2048, 2048), AttentionBackend(PLAIN), ALL_WEIGHTS, cap)
    sdpa = budget.estimate(SD15_UNET, SD15_VAE, budget.Shape(512, 512), AttentionBackend(SDP), ALL_WEIGHTS, cap)
    assert plain.total_bytes > 100 * GIB  # 65536 tokens at the first level: a 256 GiB score matrix
    assert sdpa.total_bytes < 6 * GIB and not sdpa.tiled_decode
    message = budget.refusal_message(plain, budget.Shape(2048, 2048), cap, "--memory-budget")
    assert message.startswith("needs about ") and "at 2048x2048 with classic attention" in message
    assert "the memory cap is 8.0 GiB (--memory-budget)" in message and "--opt-sdp-attention" in message


def test_sdpa_at_2048_fits_8_gib_one_row_a_call_as_bench_memory_measured():
    # bench/memory.py (docs/MEMORY.md): SD 1.5, SDPA, Automatic tiling, 8 GiB RLIMIT_DATA: the
    # batched CFG call ran out of memory, one row a call completed at 7.30 GiB peak RSS.
    need = budget.estimate(SD15_UNET, SD15_VAE, budget.Shape(2048, 2048), AttentionBackend(SDP), ALL_WEIGHTS, 8 * GIB)
    assert need.total_bytes > 8 * GIB >= need.least_bytes  # the cap refuses on the least, not the batched peak
    assert need.least_bytes / GIB == pytest.approx(7.30, rel=FACTOR - 1) and need.tiled_decode


def test_the_backends_order_their_peaks_as_they_materialise_scores():
    shape = budget.Shape(1024, 1024)
    peaks = {
        name: budget.estimate(SD15_UNET, SD15_VAE, shape, AttentionBackend(name), 0, None, "Always").unet_bytes
        for name in (PLAIN, SPLIT, SUB_QUAD, SDP)
    }
    assert peaks[PLAIN] > peaks[SPLIT] > peaks[SUB_QUAD] > peaks[SDP] > 0
    smaller_chunk = AttentionBackend(SUB_QUAD, q_chunk=256)
    assert budget.estimate(SD15_UNET, SD15_VAE, shape, smaller_chunk, 0, None, "Always").unet_bytes < peaks[SUB_QUAD]


def test_hires_batch_and_cfg_rows_raise_the_estimate():
    backend = AttentionBackend(SDP)

    def total(shape):
        return budget.estimate(SD15_UNET, SD15_VAE, shape, backend, 0, None, "Always").unet_bytes

    base = total(budget.Shape(512, 512))
    assert total(budget.Shape(512, 512, hires=(1024, 1024))) > base
    assert total(budget.Shape(512, 512, batch_size=4)) > base > total(budget.Shape(512, 512, cfg_rows=1))


def test_the_demo_model_at_default_settings_fits_a_24_gib_machine():
    info = type("Info", (), {"path": BUNDLED_DEMO_MODEL})()
    unet, vae = budget._configs_from_files(info)
    weights = budget.checkpoint_bytes(info)
    assert 10e6 < weights < 200e6  # a small fp16 file, counted at fp32
    request = Txt2ImgRequest(prompt="a red circle")
    need = budget.estimate(unet, vae, budget.generation_shape(request, unet), AttentionBackend(SDP), weights, 24 * GIB)
    assert need.total_bytes < 2 * GIB


@pytest.fixture(scope="module")
def capped_engine(tmp_path_factory, tiny_single_file):
    engine = make_engine(
        tmp_path_factory.mktemp("budget"),
        "--models-dir",
        str(tiny_single_file.parents[1]),
        "--disable-opt-split-attention",
    )
    engine.flags.memory_budget = 1.0  # GiB, as --memory-budget 1 gives it
    yield engine
    engine.queue.shutdown()


def test_prepare_refuses_what_exceeds_the_cap_and_keeps_what_fits(capped_engine):
    small = prepare(Txt2ImgRequest(prompt="a cat", width=64, height=64), capped_engine)
    assert small.request.width == 64
    with pytest.raises(budget.MemoryCapExceeded) as refused:
        prepare(Txt2ImgRequest(prompt="a cat", width=1024, height=1024), capped_engine)
    assert isinstance(refused.value, ValueError)  # the API answers 422
    text = str(refused.value)
    assert "at 1024x1024 with classic attention" in text and "the memory cap is 1.0 GiB (--memory-budget)" in text
    assert capped_engine.queue.waiting == 0 and capped_engine.queue.current is None  # nothing was queued


def test_without_the_flag_the_cap_is_the_machines_memory(tmp_path, tiny_single_file):
    engine = make_engine(tmp_path, "--models-dir", str(tiny_single_file.parents[1]))
    try:
        cap, source = budget.cap_bytes(engine)
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        assert source in ("the memory manager's budget", "this machine's RAM") and cap == physical
        assert budget.check(prepare(Txt2ImgRequest(prompt="a cat", width=64, height=64), engine), engine) is not None
    finally:
        engine.queue.shutdown()
