"""75-token chunks with the real CLIP tokenizer: long prompts, comma backtracking, BREAK,
embeddings that never straddle two chunks."""

from dataclasses import dataclass

import pytest
import torch
from transformers import CLIPTokenizer

from modules.models.loading import SD1_CONFIG_DIR
from modules.prompts.chunks import split_into_chunks
from modules.prompts.conditioning import EncodeOptions, PromptTokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return CLIPTokenizer.from_pretrained(SD1_CONFIG_DIR / "tokenizer")


@dataclass
class FakeEmbedding:
    vectors: torch.Tensor


def chunks_of(tokenizer, fragments, backtrack=20, find=lambda ids, offset: None):
    return split_into_chunks(
        fragments,
        lambda texts: tokenizer(texts, add_special_tokens=False).input_ids,
        find,
        bos=tokenizer.bos_token_id,
        eos=tokenizer.eos_token_id,
        comma=tokenizer(",", add_special_tokens=False).input_ids[0],
        backtrack=backtrack,
    )


def test_short_prompt_is_one_padded_chunk_with_weights(tokenizer):
    result = chunks_of(tokenizer, [["a ", 1.0], ["cat", 1.5]])
    (chunk,) = result.chunks
    assert result.token_count == 2 and len(chunk.tokens) == 77
    assert chunk.tokens[:4] == [49406, 320, 2368, 49407] and set(chunk.tokens[3:]) == {49407}
    assert chunk.multipliers[:4] == [1.0, 1.0, 1.5, 1.0] and len(chunk.multipliers) == 77


def test_empty_prompt_is_one_chunk(tokenizer):
    result = chunks_of(tokenizer, [["", 1.0]])
    assert len(result.chunks) == 1 and result.token_count == 0
    assert result.chunks[0].tokens == [49406] + [49407] * 76


def test_300_tokens_make_four_chunks_without_commas(tokenizer):
    result = chunks_of(tokenizer, [["cat " * 300, 1.0]])
    assert result.token_count == 300
    assert [len(c.tokens) for c in result.chunks] == [77] * 4
    assert all(c.tokens[1:76] == [2368] * 75 for c in result.chunks)


def test_a_full_chunk_is_split_after_its_last_comma_within_the_backtrack(tokenizer):
    # 70 "cat", a comma, then 10 "dog": the chunk fills inside the dogs; the comma is 5 back.
    text = "cat " * 70 + ", " + "dog " * 10
    result = chunks_of(tokenizer, [[text, 1.0]])
    first, second = result.chunks
    assert first.tokens[1:72] == [2368] * 70 + [267] and set(first.tokens[72:]) == {49407}
    assert second.tokens[1:11] == [1929] * 10
    assert result.token_count == 81
    # Backtrack 0 (or a comma too far back) cuts at exactly 75 tokens.
    plain = chunks_of(tokenizer, [[text, 1.0]], backtrack=0)
    assert plain.chunks[0].tokens[72:76] == [1929] * 4
    far = chunks_of(tokenizer, [["cat " * 40 + ", " + "dog " * 40, 1.0]])
    assert far.chunks[0].tokens[42:76] == [1929] * 34


def test_break_starts_a_new_chunk(tokenizer):
    result = chunks_of(tokenizer, [["a cat", 1.0], ["BREAK", -1], ["a dog", 1.2]])
    first, second = result.chunks
    assert first.tokens[:4] == [49406, 320, 2368, 49407]
    assert second.tokens[:4] == [49406, 320, 1929, 49407] and second.multipliers[1:3] == [1.2, 1.2]


def test_embeddings_take_one_slot_per_vector_and_never_straddle(tokenizer):
    marker = tokenizer("zebra", add_special_tokens=False).input_ids
    emb = FakeEmbedding(torch.zeros(5, 8))

    def find(ids, offset):
        return (emb, len(marker)) if ids[offset : offset + len(marker)] == marker else None

    result = chunks_of(tokenizer, [["cat " * 72 + "zebra", 1.3]], backtrack=0, find=find)
    first, second = result.chunks
    assert first.tokens[1:73] == [2368] * 72 and set(first.tokens[73:]) == {49407}  # 72 + 5 > 75
    assert second.fixes == [(1, emb)] and second.tokens[1:6] == [0] * 5 and second.multipliers[1:6] == [1.3] * 5
    assert result.token_count == 77


@pytest.mark.parametrize(
    "emphasis, expected",
    [
        ("Original", [["a ", 1.0], ["cat", 1.5]]),
        ("No norm", [["a ", 1.0], ["cat", 1.5]]),
        ("Ignore", [["a ", 1.0], ["cat", 1.0]]),
        ("None", [["a (cat:1.5)", 1.0]]),
    ],
)
def test_emphasis_modes_decide_the_weights(tokenizer, emphasis, expected):
    assert PromptTokenizer(tokenizer, EncodeOptions(emphasis=emphasis)).fragments("a (cat:1.5)") == expected
