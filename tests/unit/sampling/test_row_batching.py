"""A batched UNet call that runs out of memory goes again with fewer rows, for the rest of the job."""

import pytest
import torch

from modules.sampling.row_batching import RowBatching, call_in_chunks
from tests.fixtures.tiny_model import build_modules


@pytest.fixture(scope="module")
def unet():
    return build_modules(seed=0)[0].eval()


def inputs(rows: int = 2):
    generator = torch.Generator().manual_seed(7)
    sample = torch.randn(rows, 4, 8, 8, generator=generator)
    context = torch.randn(rows, 77, 32, generator=generator)
    return sample, torch.tensor(500), context


def too_big_for_more_than_one_row(module, args):
    if args[0].shape[0] > 1:
        torch.empty(1 << 60, dtype=torch.uint8)  # a real allocation failure from the CPU allocator


@torch.inference_mode()
def test_an_out_of_memory_batched_call_goes_again_one_row_a_call_with_the_same_output(unet):
    sample, t, context = inputs()
    one_by_one = call_in_chunks(unet, sample, t, context, {}, 0, 1)
    batching = RowBatching()
    hook = unet.register_forward_pre_hook(too_big_for_more_than_one_row)
    try:
        first = batching.call(unet, sample, t, context, {})
        again = batching.call(unet, sample, t, context, {})  # no new failed attempt: it remembers
    finally:
        hook.remove()
    assert batching.fell_back and batching.rows_per_call == 1
    assert torch.equal(first, one_by_one) and torch.equal(again, one_by_one)
    together = RowBatching().call(unet, sample, t, context, {})
    assert (together - one_by_one).abs().max() < 1e-4  # batching changes rounding only


@torch.inference_mode()
def test_other_errors_and_single_rows_are_not_retried(unet):
    sample, t, context = inputs(rows=1)
    hook = unet.register_forward_pre_hook(lambda module, args: torch.empty(1 << 60, dtype=torch.uint8))
    try:
        with pytest.raises(RuntimeError, match="allocate"):
            RowBatching().call(unet, sample, t, context, {})  # one row that does not fit: nothing to split
    finally:
        hook.remove()
    sample, t, context = inputs()
    with pytest.raises(RuntimeError, match="mat1 and mat2|shape"):
        RowBatching().call(unet, sample, t, context[:, :, :16].contiguous(), {})  # a real bug stays an error
