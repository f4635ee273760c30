"""The "Time taken" line a finished job carries (wall time and honestly labelled peak memory), and
the live preview scaled to the output size."""

import numpy as np
from PIL import Image

from modules.processing.result import (
    GenerationResult,
    JobMeter,
    format_seconds,
    peak_rss_bytes,
    preview_at_output_size,
    tag_output_size,
    time_taken_text,
)


def empty_result() -> GenerationResult:
    return GenerationResult(images=[], prompt="", negative_prompt="", seed=1, width=64, height=64,
                            sampler_name="Euler", scheduler="Automatic", steps=1, cfg_scale=7, batch_size=1,
                            model_name="tiny", model_hash="0")  # fmt: skip


def test_meter_on_cpu_records_seconds_and_the_process_peak_rss():
    result = empty_result()
    assert time_taken_text(result) == ""  # not measured: no line
    meter = JobMeter(device=None)
    meter.started -= 2.25  # as if the job had run 2.25 s
    meter.finish(result)
    assert 2.25 <= result.time_taken < 60
    peak = peak_rss_bytes()
    assert peak is not None and peak > 10 * 1024**2  # a Python process with torch holds far more than 10 MB
    assert result.peak_memory == f"Process peak RSS: {peak / 1024**3:.2f} GB"
    text = time_taken_text(result)
    assert text.startswith("Time taken: 2.") and text.endswith(" sec.  " + result.peak_memory)


def test_seconds_are_written_as_a1111_does():
    assert format_seconds(2.14) == "2.1 sec."
    assert format_seconds(75.0) == "1 min. 15.0 sec."


def test_preview_is_scaled_smoothly_to_the_output_size():
    pixels = np.zeros((8, 8, 3), dtype=np.uint8)
    pixels[:, 4:] = 255  # left half black, right half white
    preview = tag_output_size(Image.fromarray(pixels), (64, 48))
    assert preview.size == (8, 8)  # the job's preview stays at its own size (the API serves it so)
    scaled = preview_at_output_size(preview)
    assert scaled.size == (64, 48)
    row = np.asarray(scaled.convert("L"))[24].astype(int)
    assert row[0] == 0 and row[-1] == 255
    assert any(0 < value < 255 for value in row[28:36])  # a smooth edge, not nearest-neighbour blocks
    assert preview_at_output_size(None) is None
    untagged = Image.new("RGB", (8, 8))
    assert preview_at_output_size(untagged) is untagged
    same = tag_output_size(Image.new("RGB", (64, 64)), (64, 64))
    assert preview_at_output_size(same) is same
