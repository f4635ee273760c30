"""The change each network format makes to one layer, at strength 1.

Formats are told apart by their parameter names (as LyCORIS and A1111 do). All math runs in
float32 on the layer's device; `alpha / rank` scaling is applied here, the user's strength by
the caller. Written from the format definitions; the tests compare every format with the
`lycoris` package's own merge (tests/extensions/test_lycoris_reference.py).
"""

import torch


class UnsupportedFormat(ValueError):
    """A layer whose parameters belong to no format this extension knows (OFT, BOFT, GLoRA ...)."""


def layer_delta(params: dict[str, torch.Tensor], weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(delta weight shaped like `weight`, delta bias or None). `weight` is the layer's original
    weight in float32: IA3 and DoRA are defined relative to it."""
    if "lora_up.weight" in params:
        delta = _lora(params, weight.shape)
    elif "hada_w1_a" in params:
        delta = _loha(params, weight.shape)
    elif "lokr_w1" in params or "lokr_w1_a" in params:
        delta = _lokr(params, weight.shape)
    elif "diff" in params:
        return params["diff"].reshape(weight.shape), params.get("diff_b")
    elif "w_norm" in params:
        return params["w_norm"].reshape(weight.shape), params.get("b_norm")
    elif "weight" in params:
        return _ia3(params, weight), None
    else:
        raise UnsupportedFormat(", ".join(sorted(params)))
    if "dora_scale" in params:
        delta = _dora(weight, delta, params["dora_scale"])
    return delta, None


def _scale(params: dict[str, torch.Tensor], rank: int | None) -> float:
    # kohya/LyCORIS convention: no alpha, or alpha 0, means alpha = rank (no scaling).
    alpha = params.get("alpha")
    if alpha is None or rank is None or float(alpha) == 0:
        return 1.0
    return float(alpha) / rank


def _lora(params, shape) -> torch.Tensor:
    """LoRA / LoCon: up @ down; with a Tucker core (`lora_mid`) for convolutions."""
    up, down = params["lora_up.weight"].flatten(1), params["lora_down.weight"].flatten(1)
    if "lora_mid.weight" in params:
        delta = torch.einsum("ij...,oi,jn->on...", params["lora_mid.weight"], up, down)
    else:
        delta = up @ down
    return delta.reshape(shape) * _scale(params, down.shape[0])


def _loha(params, shape) -> torch.Tensor:
    """LoHa: the elementwise product of two low-rank products; optional Tucker cores t1/t2."""
    w1a, w1b, w2a, w2b = (params[k] for k in ("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"))
    if "hada_t1" in params:  # Tucker form: w?_a is (rank, out), w?_b is (rank, in)
        half1 = torch.einsum("ij...,jr,ip->pr...", params["hada_t1"], w1b, w1a)
        half2 = torch.einsum("ij...,jr,ip->pr...", params["hada_t2"], w2b, w2a)
    else:
        half1 = w1a.flatten(1) @ w1b.flatten(1)
        half2 = w2a.flatten(1) @ w2b.flatten(1)
    return (half1 * half2).reshape(shape) * _scale(params, w1b.shape[0])


def _lokr(params, shape) -> torch.Tensor:
    """LoKr: kron(w1, w2), each side either stored whole or as a low-rank pair (w2 optionally Tucker)."""
    rank = None
    if "lokr_w1" in params:
        w1 = params["lokr_w1"]
    else:
        w1 = params["lokr_w1_a"] @ params["lokr_w1_b"]
        rank = params["lokr_w1_b"].shape[0]
    if "lokr_w2" in params:
        w2 = params["lokr_w2"]
    else:
        w2a, w2b = params["lokr_w2_a"], params["lokr_w2_b"]
        rank = rank or w2b.shape[0]
        if "lokr_t2" in params:  # w2a is (rank, out), w2b is (rank, in)
            w2 = torch.einsum("ij...,ip,jr->pr...", params["lokr_t2"], w2a, w2b)
        else:
            w2 = w2a @ w2b.flatten(1)
    while w1.dim() < w2.dim():
        w1 = w1.unsqueeze(-1)
    # Both sides stored whole: there is no rank, and alpha does not apply.
    # kron fails on a non-contiguous operand (the einsum result is one).
    return torch.kron(w1.contiguous(), w2.contiguous()).reshape(shape) * _scale(params, rank)


def _ia3(params, weight) -> torch.Tensor:
    """(IA)^3: a learned per-channel factor, on output channels or (`on_input`) input channels."""
    on_input = bool(params["on_input"].item()) if "on_input" in params else False
    view = [1] * weight.dim()
    view[1 if on_input else 0] = -1
    return weight * params["weight"].reshape(view)


def _dora(weight, delta, dora_scale) -> torch.Tensor:
    """DoRA: the merged weight's direction with the learned magnitude, returned as a change to
    `weight`. The magnitude is per output row, or per input column when `dora_scale` is shaped
    that way. Strength then scales this change linearly (as A1111 and ComfyUI do)."""
    merged = weight + delta
    on_output = dora_scale.dim() < 2 or (dora_scale.shape[0] == weight.shape[0] and dora_scale.shape[1] == 1)
    eps = torch.finfo(merged.dtype).eps
    if on_output:
        norm = merged.reshape(merged.shape[0], -1).norm(dim=1).reshape(-1, *[1] * (merged.dim() - 1))
    else:
        norm = merged.transpose(0, 1).reshape(merged.shape[1], -1).norm(dim=1)
        norm = norm.reshape(1, -1, *[1] * (merged.dim() - 2))
    return merged * (dora_scale.reshape(norm.shape) / (norm + eps)) - weight
