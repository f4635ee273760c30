"""Prompt text -> text-encoder hidden states, as A1111 makes them.

Attention weights multiply each token's hidden state (then, in the "Original" emphasis mode,
the chunk's mean is restored); long prompts and BREAK make several 77-token chunks, encoded
separately and concatenated; textual-inversion vectors replace their placeholder tokens'
embeddings; CLIP skip takes an earlier layer's output through the final layer norm.
"""

import logging
from dataclasses import dataclass

import torch

from modules.config.settings import EMPHASIS_CHOICES as EMPHASIS_MODES
from modules.memory.placement import compute_device
from modules.prompts.cache import EncodingCache
from modules.prompts.chunks import Tokenized, split_into_chunks
from modules.prompts.parser import weighted_fragments

log = logging.getLogger("sdstudio.prompts")


@dataclass(frozen=True)
class EncodeOptions:
    emphasis: str = "Original"
    clip_skip: int = 1
    comma_backtrack: int = 20

    def __post_init__(self):
        if self.emphasis not in EMPHASIS_MODES:
            raise ValueError(f"emphasis must be one of {EMPHASIS_MODES}, not {self.emphasis!r}")
        if self.clip_skip < 1:
            raise ValueError(f"clip skip must be at least 1, not {self.clip_skip}")


class PromptTokenizer:
    """Text -> chunks of token ids and weights. Needs only the tokenizer (and embeddings), so
    the UI's token counter works before a model is loaded."""

    def __init__(self, tokenizer, options: EncodeOptions, embeddings=None):
        self.tokenizer, self.options, self.embeddings = tokenizer, options, embeddings
        self._comma = tokenizer(",", add_special_tokens=False).input_ids[0]

    def fragments(self, text: str) -> list[list]:
        if self.options.emphasis == "None":
            return [[text, 1.0]]  # brackets are plain text in this mode
        parsed = weighted_fragments(text)
        if self.options.emphasis == "Ignore":
            return [[t, w if [t, w] == ["BREAK", -1] else 1.0] for t, w in parsed]
        return parsed

    def tokenize(self, text: str) -> Tokenized:
        find = self.embeddings.find_at if self.embeddings is not None else (lambda ids, offset: None)
        return split_into_chunks(
            self.fragments(text),
            lambda texts: self.tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False).input_ids,
            find,
            bos=self.tokenizer.bos_token_id,
            eos=self.tokenizer.eos_token_id,
            comma=self._comma,
            backtrack=self.options.comma_backtrack,
        )

    def count(self, text: str) -> int:
        return self.tokenize(text).token_count


@dataclass(frozen=True)
class Conditioning:
    """One text's encoding: hidden states [77 * chunks, width] (every text encoder's, concatenated),
    and the pooled output [pooled width] for families whose UNet takes it (SDXL), else None."""

    hidden: torch.Tensor
    pooled: torch.Tensor | None = None


class PromptEncoder:
    """Encodes texts for one model, one set of options, one state of the text encoders. The
    model's family says which encoders there are and which layer each gives (model.text_encoders())."""

    def __init__(self, model, options: EncodeOptions, embeddings=None, cache: EncodingCache | None = None, state=()):
        self.model, self.options = model, options
        self.encoders = model.text_encoders()
        self.tokenizer = PromptTokenizer(self.encoders[0][2], options, embeddings)
        self.cache = cache or EncodingCache()
        embeddings_version = embeddings.version if embeddings is not None else 0
        # Anything that changes the output for the same text: the weights (networks merged into
        # the text encoders are part of `state`), the options, the embeddings on disk.
        # FP8 weight storage changes an encoder in place (same object, other outputs).
        encoder_ids = tuple((id(encoder), _storage_dtypes(encoder)) for _, encoder, _ in self.encoders)
        self._key = (model.sha256, encoder_ids, options, embeddings_version, state)

    def encode(self, text: str) -> torch.Tensor:
        """[77 * chunks, hidden] in the UNet's dtype."""
        return self.conditioning(text).hidden

    def conditioning(self, text: str) -> Conditioning:
        key = (self._key, text)
        cached = self.cache.get(key)
        if cached is None:
            cached = self._encode_chunks(self.tokenizer.tokenize(text))
            self.cache.put(key, cached)
        return cached

    def empty_chunk(self) -> torch.Tensor:
        """The encoding of an empty prompt (one chunk): what shorter prompts are padded with."""
        return self.encode("")[:77]

    def _encode_chunks(self, tokenized: Tokenized) -> Conditioning:
        hidden_parts, pooled = [], None
        for spec, encoder, tokenizer in self.encoders:
            hidden, spec_pooled = self._encode_with(spec, encoder, tokenizer, tokenized)
            hidden_parts.append(hidden)
            if spec.pooled:
                pooled = spec_pooled
        dtype = self.model.unet.dtype
        hidden = torch.cat(hidden_parts, dim=-1) if len(hidden_parts) > 1 else hidden_parts[0]
        return Conditioning(hidden.to(dtype), pooled.to(dtype) if pooled is not None else None)

    def _encode_with(self, spec, encoder, tokenizer, tokenized: Tokenized) -> tuple[torch.Tensor, torch.Tensor | None]:
        device = compute_device(encoder)
        ids = torch.tensor([chunk.tokens for chunk in tokenized.chunks], device=device)
        ids = _pad_after_end(ids, tokenizer)
        fixes = [(row, offset, emb) for row, chunk in enumerate(tokenized.chunks) for offset, emb in chunk.fixes]
        with torch.inference_mode(), _embedding_vectors(encoder, fixes):
            output = encoder(ids, output_hidden_states=True)
            states = output.hidden_states
            if spec.layer == "penultimate":
                # SDXL's encoders: the raw penultimate layer; CLIP skip n goes n - 1 layers further back.
                hidden = states[-usable_clip_skip(self.options.clip_skip + 1, len(states) - 1)]
            elif self.options.clip_skip > 1:
                hidden = states[-usable_clip_skip(self.options.clip_skip, len(states) - 1)]
                hidden = _final_layer_norm(encoder)(hidden)
            else:
                hidden = output[0]
            # The pooled output of the first chunk, as A1111 takes it for SDXL.
            pooled = output.text_embeds[0] if spec.pooled else None
            weights = torch.tensor([c.multipliers for c in tokenized.chunks], device=device, dtype=hidden.dtype)
            hidden = self._apply_weights(hidden, weights)
        return hidden.reshape(-1, hidden.shape[-1]), pooled

    def _apply_weights(self, hidden: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if self.options.emphasis in ("Ignore", "None") or bool((weights == 1).all()):
            return hidden
        weighted = hidden * weights.unsqueeze(-1)
        if self.options.emphasis == "No norm":
            return weighted
        # "Original": weights change direction, not overall magnitude (per chunk, as A1111).
        original_mean = hidden.mean(dim=(1, 2), keepdim=True)
        return weighted * (original_mean / weighted.mean(dim=(1, 2), keepdim=True))


def _pad_after_end(ids: torch.Tensor, tokenizer) -> torch.Tensor:
    """Chunks are padded with the end token; OpenCLIP's tokenizers pad with "!" after the first end
    token instead (A1111's id_pad), which is what those encoders were trained on."""
    pad, end = tokenizer.pad_token_id, tokenizer.eos_token_id
    if pad is None or pad == end:
        return ids
    positions = torch.arange(ids.shape[1], device=ids.device)
    first_end = (ids == end).int().argmax(dim=1, keepdim=True)
    return torch.where(positions > first_end, torch.full_like(ids, pad), ids)


def usable_clip_skip(clip_skip: int, layers: int) -> int:
    """CLIP skip n takes the n-th layer from the end; a model with fewer layers (the slider goes to
    12 whatever the model) gets its first layer's output instead of an error. Logged, since the
    encoder has no channel to the job's warnings."""
    if clip_skip <= layers:
        return clip_skip
    log.warning("clip skip %d is more than this text encoder's %d layers: using %d", clip_skip, layers, layers)
    return layers


def _final_layer_norm(encoder):
    return getattr(encoder, "final_layer_norm", None) or encoder.text_model.final_layer_norm


class _embedding_vectors:  # noqa: N801 - used as a context manager, reads like one
    """Replace placeholder tokens' input embeddings with textual-inversion vectors for one call."""

    def __init__(self, encoder, fixes):
        self.fixes, self.handle = fixes, None
        embeddings = getattr(encoder, "embeddings", None) or encoder.text_model.embeddings
        self.module = embeddings.token_embedding

    def _hook(self, module, inputs, output):
        output = output.clone()
        for row, offset, embedding in self.fixes:
            vectors = embedding.vectors_for(output.shape[-1]).to(output.device, output.dtype)
            output[row, offset : offset + vectors.shape[0]] = vectors
        return output

    def __enter__(self):
        if self.fixes:
            self.handle = self.module.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc):
        if self.handle is not None:
            self.handle.remove()
        return False


def encode_prompt(model, text: str) -> torch.Tensor:
    """[1, 77 * chunks, hidden] with the default options: for callers outside a job."""
    return PromptEncoder(model, EncodeOptions()).encode(text).unsqueeze(0)


def _storage_dtypes(encoder) -> tuple:
    return tuple(sorted({str(parameter.dtype) for parameter in encoder.parameters()}))
