"""Turn prompt text into the text encoder's hidden states.

Plain encoding: one 77-token window (BOS + 75 tokens + EOS, padded). The full A1111
prompt language (attention weights, BREAK, long-prompt chunks) builds on this.
"""

import torch


def encode_prompt(model, text: str) -> torch.Tensor:
    tokenizer = model.tokenizer
    ids = tokenizer(
        text,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids.to(model.text_encoder.device)
    with torch.inference_mode():
        return model.text_encoder(ids)[0]
