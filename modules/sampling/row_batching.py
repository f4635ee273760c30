"""How many rows (images x prompt / negative) go through the UNet in one call.

"Batch cond/uncond" on means all of them at once: fastest, but the activations grow with the rows.
When such a call runs out of memory the rows go in halves for the rest of the job (ComfyUI's way
too), so a size that fits one row at a time still completes: on this 2-core CPU under an 8 GiB cap,
SD 1.5 at 2048x2048 needs it (bench/memory.py). The pictures are the same within float rounding
(tests/integration/test_speed_options.py measures batch cond/uncond on and off)."""

import gc
import logging

import torch

from modules.jobs import is_out_of_memory

log = logging.getLogger("sdstudio.sampling")


class RowBatching:
    """One per denoising run. `rows_per_call` None: every row in one call."""

    def __init__(self, rows_per_call: int | None = None):
        self.rows_per_call = rows_per_call
        self.fell_back = False  # a batched call ran out of memory and the rows were split

    def call(self, unet, model_input, t, context, unet_kwargs: dict, start: int = 0) -> torch.Tensor:
        """The UNet on rows start .. start + len(context) of `model_input`."""
        while True:
            rows = context.shape[0]
            tried = min(self.rows_per_call or rows, rows)
            try:
                return call_in_chunks(unet, model_input, t, context, unet_kwargs, start, tried)
            except (RuntimeError, MemoryError) as error:
                if tried <= 1 or not is_out_of_memory(error):
                    raise
            # Out of the except block: the failed call's tensors, held by its traceback, are gone.
            gc.collect()
            self.rows_per_call, self.fell_back = max(1, tried // 2), True
            log.warning("the UNet call with %d rows ran out of memory: %d rows a call from now on in this job",
                        tried, self.rows_per_call)  # fmt: skip


def call_in_chunks(unet, model_input, t, context, unet_kwargs: dict, start: int, chunk: int) -> torch.Tensor:
    """The UNet on rows start .. start + len(context) of `model_input`, `chunk` rows a call."""
    rows = model_input.shape[0]
    stop = start + context.shape[0]
    if start == 0 and stop == rows and chunk >= rows:  # all rows in one call, the tensors as they are
        return unet(model_input, t, encoder_hidden_states=context, **unet_kwargs).sample
    outputs = []
    for first in range(start, stop, chunk):
        last = min(first + chunk, stop)
        kwargs = rows_of(unet_kwargs, first, last, rows)
        sample = model_input[first:last]
        outputs.append(unet(sample, t, encoder_hidden_states=context[first - start : last - start], **kwargs).sample)
    return torch.cat(outputs)


def rows_of(value, first: int, last: int, rows: int):
    """Row-wise UNet arguments (tensors with one row per UNet row, possibly in dicts) cut to rows
    first .. last; anything else as it is."""
    if isinstance(value, dict):
        return {key: rows_of(item, first, last, rows) for key, item in value.items()}
    if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == rows:
        return value[first:last]
    return value
