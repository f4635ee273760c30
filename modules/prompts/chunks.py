"""Weighted text -> 75-token chunks, the way A1111 splits long prompts.

Each chunk holds 75 prompt tokens (77 with BOS/EOS, padded with EOS). A chunk that fills up
is split after its last comma when that comma is within `backtrack` tokens of the end, so a
phrase is not cut in half; BREAK ends the chunk early. Textual-inversion embeddings take one
slot per vector and never straddle two chunks.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

CHUNK_TOKENS = 75
BREAK = ("BREAK", -1)


@dataclass
class PromptChunk:
    tokens: list[int] = field(default_factory=list)  # 77 ids once closed
    multipliers: list[float] = field(default_factory=list)
    fixes: list[tuple[int, object]] = field(default_factory=list)  # (position in the 77, embedding)


@dataclass
class Tokenized:
    chunks: list[PromptChunk]
    token_count: int  # prompt tokens (embedding vectors included), without BOS/EOS/padding


def split_into_chunks(
    fragments: list[list],
    tokenize: Callable[[list[str]], list[list[int]]],
    find_embedding: Callable[[list[int], int], tuple[object, int] | None],
    bos: int,
    eos: int,
    comma: int,
    backtrack: int = 20,
) -> Tokenized:
    """`fragments`: [[text, weight], ...] from weighted_fragments (["BREAK", -1] included).
    `tokenize` turns a list of texts into their ids without special tokens; `find_embedding`
    returns (embedding, ids consumed) for an embedding name starting at an offset, or None."""
    builder = _ChunkBuilder(bos, eos, backtrack)
    texts = [text for text, weight in fragments if (text, weight) != BREAK]
    token_lists = iter(tokenize(texts)) if texts else iter(())
    for text, weight in fragments:
        if (text, weight) == BREAK:
            builder.close()
            continue
        ids = next(token_lists)
        position = 0
        while position < len(ids):
            found = find_embedding(ids, position)
            if found is None:
                builder.add_token(ids[position], weight, is_comma=ids[position] == comma)
                position += 1
                continue
            embedding, consumed = found
            builder.add_embedding(embedding, weight)
            position += consumed
    return builder.finish()


class _ChunkBuilder:
    def __init__(self, bos: int, eos: int, backtrack: int):
        self.bos, self.eos, self.backtrack = bos, eos, backtrack
        self.chunks: list[PromptChunk] = []
        self.current = PromptChunk()
        self.last_comma = -1
        self.count = 0

    def close(self) -> None:
        chunk = self.current
        self.count += len(chunk.tokens)
        padding = CHUNK_TOKENS - len(chunk.tokens)
        chunk.tokens = [self.bos, *chunk.tokens, *[self.eos] * padding, self.eos]
        chunk.multipliers = [1.0, *chunk.multipliers, *[1.0] * padding, 1.0]
        chunk.fixes = [(offset + 1, emb) for offset, emb in chunk.fixes]  # +1: BOS comes first
        self.chunks.append(chunk)
        self.current, self.last_comma = PromptChunk(), -1

    def add_token(self, token: int, weight: float, is_comma: bool) -> None:
        chunk = self.current
        if is_comma:
            self.last_comma = len(chunk.tokens)
        elif self._full() and self.backtrack and self.last_comma != -1:
            if len(chunk.tokens) - self.last_comma <= self.backtrack:
                self._move_after_last_comma()
        if self._full():
            self.close()
        self.current.tokens.append(token)
        self.current.multipliers.append(weight)

    def add_embedding(self, embedding, weight: float) -> None:
        vectors = int(embedding.vectors.shape[0])
        if len(self.current.tokens) + vectors > CHUNK_TOKENS:
            self.close()
        chunk = self.current
        chunk.fixes.append((len(chunk.tokens), embedding))
        chunk.tokens += [0] * vectors  # placeholders: their vectors are replaced when encoding
        chunk.multipliers += [weight] * vectors

    def _full(self) -> bool:
        return len(self.current.tokens) >= CHUNK_TOKENS

    def _move_after_last_comma(self) -> None:
        """Close the chunk right after its last comma; what followed starts the next one."""
        chunk, cut = self.current, self.last_comma + 1
        moved_tokens, moved_weights = chunk.tokens[cut:], chunk.multipliers[cut:]
        moved_fixes = [(offset - cut, emb) for offset, emb in chunk.fixes if offset >= cut]
        chunk.tokens, chunk.multipliers = chunk.tokens[:cut], chunk.multipliers[:cut]
        chunk.fixes = [(offset, emb) for offset, emb in chunk.fixes if offset < cut]
        self.close()
        self.current = PromptChunk(moved_tokens, moved_weights, moved_fixes)

    def finish(self) -> Tokenized:
        if self.current.tokens or not self.chunks:
            self.close()
        return Tokenized(self.chunks, self.count)
