"""Which attention implementation the UNet and VAE run with, chosen from A1111's flags
(--opt-sdp-attention, --opt-sub-quad-attention, --xformers ...) and this machine, and installed on
each loaded model through diffusers' attention processors."""

import importlib.util
import logging
from contextlib import nullcontext
from dataclasses import dataclass

log = logging.getLogger(__name__)

SDP, SDP_NO_MEM, SUB_QUAD, SPLIT, PLAIN, XFORMERS = "sdp", "sdp-no-mem", "sub-quad", "split", "plain", "xformers"
XFORMERS_MISSING_CUDA = "--xformers needs an NVIDIA GPU and the xformers package; this machine has no CUDA device"
XFORMERS_MISSING_PACKAGE = "--xformers needs the xformers package, which is not installed"


@dataclass(frozen=True)
class AttentionBackend:
    name: str
    q_chunk: int = 1024
    kv_chunk: int | None = None
    chunk_threshold: int | None = None
    fallback_reason: str = ""  # why the requested backend (xformers) is not the one used

    def describe(self) -> str:
        text = {
            SDP: "sdp (scaled dot product)",
            SDP_NO_MEM: "sdp-no-mem (scaled dot product, math/flash kernels; on CPU the same as sdp)",
            SUB_QUAD: f"sub-quadratic (q chunk {self.q_chunk}"
            + (f", kv chunk {self.kv_chunk}" if self.kv_chunk else "")
            + ")",
            SPLIT: "split (sliced attention, half the heads at a time)",
            PLAIN: "plain (unoptimized attention)",
            XFORMERS: "xformers",
        }[self.name]
        return f"xformers unavailable: {self.fallback_reason} -> {text}" if self.fallback_reason else text

    def processor_for(self, module):
        """A fresh processor for one diffusers Attention module (split needs its head count)."""
        from diffusers.models import attention_processor as processors

        if self.name == SDP:
            return processors.AttnProcessor2_0()
        if self.name == SDP_NO_MEM:
            return NoMemSdpProcessor()
        if self.name == SPLIT:
            return processors.SlicedAttnProcessor(max(1, module.heads // 2))
        if self.name == PLAIN:
            return processors.AttnProcessor()
        if self.name == XFORMERS:
            return processors.XFormersAttnProcessor()
        return SubQuadraticProcessor(self.q_chunk, self.kv_chunk, self.chunk_threshold)

    def apply(self, model) -> None:
        """Install this backend on the model's UNet and VAE (any other part with attention is left)."""
        from diffusers.models.attention_processor import Attention

        for part in (getattr(model, "unet", None), getattr(model, "vae", None)):
            if part is None:
                continue
            for module in part.modules():
                if isinstance(module, Attention):
                    module.set_processor(self.processor_for(module))


def backend_for(flags) -> AttentionBackend:
    """The backend the flags ask for, or SDPA with the reason where xformers cannot run here. Pure:
    logging the reason is the caller's job (once, at start-up)."""
    chunks = {
        "q_chunk": getattr(flags, "sub_quad_q_chunk_size", None) or 1024,
        "kv_chunk": getattr(flags, "sub_quad_kv_chunk_size", None),
        "chunk_threshold": getattr(flags, "sub_quad_chunk_threshold", None),
    }
    if getattr(flags, "xformers", False) or getattr(flags, "force_enable_xformers", False):
        reason = _xformers_problem()
        return AttentionBackend(SDP, fallback_reason=reason) if reason else AttentionBackend(XFORMERS)
    if getattr(flags, "opt_sub_quad_attention", False):
        return AttentionBackend(SUB_QUAD, **chunks)
    if getattr(flags, "opt_sdp_no_mem_attention", False):
        return AttentionBackend(SDP_NO_MEM)
    if getattr(flags, "opt_split_attention", False):
        return AttentionBackend(SPLIT)
    if getattr(flags, "disable_opt_split_attention", False):
        return AttentionBackend(PLAIN)
    return AttentionBackend(SDP)


def backend_logged_once(flags) -> AttentionBackend:
    """backend_for, logging the fallback reason: called once when the engine is made."""
    backend = backend_for(flags)
    if backend.fallback_reason:
        log.warning("%s: using SDPA", backend.fallback_reason)
    log.info("attention: %s", backend.describe())
    return backend


def _xformers_problem() -> str:
    import torch

    if not torch.cuda.is_available():
        return XFORMERS_MISSING_CUDA
    if importlib.util.find_spec("xformers") is None:
        return XFORMERS_MISSING_PACKAGE
    return ""


class NoMemSdpProcessor:
    """diffusers' SDPA with the memory-efficient kernel turned off (A1111's --opt-sdp-no-mem-attention,
    which gives reproducible results on CUDA). On CPU torch has no such kernel: plain SDPA."""

    def __init__(self):
        from diffusers.models.attention_processor import AttnProcessor2_0

        self._sdpa = AttnProcessor2_0()

    def __call__(self, attn, hidden_states, *args, **kwargs):
        with _math_and_flash_only() if hidden_states.is_cuda else nullcontext():
            return self._sdpa(attn, hidden_states, *args, **kwargs)


def _math_and_flash_only():
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.MATH, SDPBackend.FLASH_ATTENTION])


class SubQuadraticProcessor:
    """Attention computed a chunk of queries at a time (and, with kv_chunk, a chunk of keys at a time
    with a running softmax), so the full query x key score matrix never exists at once: the memory
    peak of the large VAE/UNet attentions falls, the result is the same within float rounding."""

    def __init__(self, q_chunk: int = 1024, kv_chunk: int | None = None, chunk_threshold: int | None = None):
        self.q_chunk = max(1, int(q_chunk))
        self.kv_chunk = int(kv_chunk) if kv_chunk else None
        # A1111's threshold is a percentage of free memory; we read it as a score-matrix size in MiB
        # below which attention is done in one piece.
        self.chunk_threshold = chunk_threshold

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *a, **kw):
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channel, height * width).transpose(1, 2)
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        batch, context_len, _ = context.shape
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, context_len, batch)
            attention_mask = attention_mask.view(batch, attn.heads, -1, attention_mask.shape[-1])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        if encoder_hidden_states is not None and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(encoder_hidden_states)
        key, value = attn.to_k(context), attn.to_v(context)
        head_dim = key.shape[-1] // attn.heads

        def heads(tensor):
            return tensor.view(batch, -1, attn.heads, head_dim).transpose(1, 2)

        query, key, value = heads(query), heads(key), heads(value)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        out = self.attention(query, key, value, attention_mask, attn.scale)
        hidden_states = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor

    def attention(self, query, key, value, mask, scale: float):
        """softmax(q k^T * scale + mask) v over (batch, heads, tokens, dim) tensors, in chunks."""
        import torch

        q_len, k_len = query.shape[-2], key.shape[-2]
        if self._small_enough(query, q_len, k_len):
            return self._kv_chunked(query, key, value, mask, scale)
        pieces = []
        for start in range(0, q_len, self.q_chunk):
            stop = min(start + self.q_chunk, q_len)
            part_mask = None if mask is None else mask[..., start:stop, :] if mask.shape[-2] > 1 else mask
            pieces.append(self._kv_chunked(query[..., start:stop, :], key, value, part_mask, scale))
        return torch.cat(pieces, dim=-2)

    def _small_enough(self, query, q_len: int, k_len: int) -> bool:
        if not self.chunk_threshold:
            return False
        score_bytes = query.shape[0] * query.shape[1] * q_len * k_len * query.element_size()
        return score_bytes <= self.chunk_threshold * 2**20

    def _kv_chunked(self, query, key, value, mask, scale: float):
        import torch

        # Scores in float32 at least: the running max/sum must not lose precision in fp16.
        work = torch.promote_types(query.dtype, torch.float32)
        q = query.to(work) * scale
        k_len = key.shape[-2]
        step = self.kv_chunk or k_len
        running_max = running_sum = total = None
        for start in range(0, k_len, step):
            stop = min(start + step, k_len)
            scores = q @ key[..., start:stop, :].to(work).transpose(-1, -2)
            if mask is not None:
                scores = scores + mask[..., start:stop].to(work)
            chunk_max = scores.amax(dim=-1, keepdim=True)
            new_max = chunk_max if running_max is None else torch.maximum(running_max, chunk_max)
            weights = torch.exp(scores - new_max)
            chunk_out = weights @ value[..., start:stop, :].to(work)
            chunk_sum = weights.sum(dim=-1, keepdim=True)
            if running_max is None:
                total, running_sum = chunk_out, chunk_sum
            else:
                # Earlier chunks were weighed against a smaller max: rescale them to the new one.
                correction = torch.exp(running_max - new_max)
                total = total * correction + chunk_out
                running_sum = running_sum * correction + chunk_sum
            running_max = new_max
        return (total / running_sum).to(query.dtype)
