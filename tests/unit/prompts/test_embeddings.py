import hashlib
import os
import pathlib
import pickle

import pytest
import torch
from safetensors.torch import save_file
from transformers import CLIPTokenizer

from modules.models.loading import SD1_CONFIG_DIR
from modules.prompts.embeddings import EmbeddingDatabase

SD1_DIM = 768


@pytest.fixture(scope="module")
def tokenizer():
    return CLIPTokenizer.from_pretrained(SD1_CONFIG_DIR / "tokenizer")


def vectors(n: int, dim: int = SD1_DIM, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


def ids_of(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False).input_ids


class TouchOnUnpickle:
    """A pickle payload: unpickling it creates `marker`, the way a hostile embedding would run its code."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_each_file_layout_loads_with_exact_vectors_and_metadata(tmp_path, tokenizer):
    folder = tmp_path / "embeddings"
    (folder / "sub" / "deeper").mkdir(parents=True)
    a1111, exported, token, token_st = vectors(2, seed=1), vectors(3, seed=2), vectors(1, seed=3)[0], vectors(2, seed=4)
    plain, nested, longest, half = vectors(4, seed=5), vectors(1, seed=6), vectors(75, seed=7), vectors(2, seed=8)
    clip_l, clip_g = vectors(2, seed=9), vectors(2, 1280, seed=10)
    torch.save(
        {
            "string_to_token": {"*": 265},
            "string_to_param": {"*": a1111},
            "name": "a1111-style",
            "step": 1500,
            "sd_checkpoint": "e1441589a6",
            "sd_checkpoint_name": "v1-5-pruned",
        },
        folder / "a1111-style.pt",
    )
    save_file({"emb_params": exported}, folder / "exported.safetensors")
    torch.save({"<cat-toy>": token}, folder / "cat-toy.bin")
    save_file({"<tok>": token_st}, folder / "diffusers-st.safetensors")
    torch.save(plain, folder / "plain.pt")
    torch.save({"string_to_param": {"*": nested}}, folder / "sub" / "deeper" / "nested.pt")
    torch.save({"string_to_param": {"*": longest}}, folder / "longest.pt")
    save_file({"emb_params": half.half()}, folder / "half.safetensors")
    save_file({"clip_l": clip_l, "clip_g": clip_g}, folder / "xl-style.safetensors")

    db = EmbeddingDatabase(folder)
    report = db.load(tokenizer, SD1_DIM)

    assert report.skipped == {}
    assert report.loaded == tuple(
        sorted(["a1111-style", "exported", "cat-toy", "diffusers-st", "plain", "nested", "longest", "half", "xl-style"])
    )
    expected = {
        "a1111-style": (a1111, "a1111"),
        "exported": (exported, "a1111-safetensors"),
        "cat-toy": (token.unsqueeze(0), "diffusers"),
        "diffusers-st": (token_st, "diffusers"),
        "plain": (plain, "tensor"),
        "nested": (nested, "a1111"),
        "longest": (longest, "a1111"),
        "half": (half.half().float(), "a1111-safetensors"),
        "xl-style": (clip_l, "sdxl:clip_l"),
    }
    for name, (values, layout) in expected.items():
        embedding = db.embeddings[name]
        assert embedding.vectors.dtype == torch.float32
        assert torch.equal(embedding.vectors, values), name
        assert embedding.format == layout, name
    first = db.embeddings["a1111-style"]
    assert (first.step, first.sd_checkpoint_name, first.path) == (1500, "v1-5-pruned", folder / "a1111-style.pt")
    sha = hashlib.sha256((folder / "a1111-style.pt").read_bytes()).hexdigest()
    assert (first.sha256, first.hash) == (sha, sha[:12])
    assert (db.embeddings["plain"].step, db.embeddings["plain"].sd_checkpoint_name) == (None, None)
    assert db.embeddings["longest"].vector_count == 75
    assert db.embeddings["nested"].path == folder / "sub" / "deeper" / "nested.pt"

    # The same SDXL file on a model whose encoder is 1280 wide gives its other part.
    xl = EmbeddingDatabase(folder).load(tokenizer, 1280)
    assert xl.loaded == ("xl-style",)


def test_unusable_files_are_skipped_with_a_reason(tmp_path, tokenizer):
    folder = tmp_path / "embeddings"
    folder.mkdir()
    torch.save({"string_to_param": {"*": vectors(1)}}, folder / "good.pt")
    torch.save({"string_to_param": {"*": vectors(1, 1024)}}, folder / "sd2-style.pt")
    save_file({"clip_g": vectors(1, 1280)}, folder / "xl-only-g.safetensors")
    torch.save({"string_to_param": {"*": vectors(76)}}, folder / "too-long.pt")
    (folder / "corrupt.pt").write_bytes(bytes(range(256)))
    (folder / "text.pt").write_bytes(b"this is not a checkpoint")
    (folder / "truncated.pt").write_bytes((folder / "good.pt").read_bytes()[:100])
    (folder / "corrupt.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    (folder / "empty.bin").write_bytes(b"")
    torch.save({"a": vectors(1), "b": vectors(1)}, folder / "two-tensors.bin")
    torch.save(["a", "list"], folder / "a-list.pt")
    (folder / "in-image.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    # Left out without a word: hidden files, hidden folders, notes and preview images beside embeddings.
    (folder / ".hidden").mkdir()
    torch.save(vectors(1), folder / ".hidden" / "secret.pt")
    torch.save(vectors(1), folder / ".dotfile.pt")
    (folder / "good.txt").write_text("trigger words")
    (folder / "good.preview.png").write_bytes(b"\x89PNG\r\n\x1a\n")

    report = EmbeddingDatabase(folder).load(tokenizer, SD1_DIM)

    assert report.loaded == ("good",)
    reasons = report.skipped
    assert set(reasons) == {
        "sd2-style.pt",
        "xl-only-g.safetensors",
        "too-long.pt",
        "corrupt.pt",
        "text.pt",
        "truncated.pt",
        "corrupt.safetensors",
        "empty.bin",
        "two-tensors.bin",
        "a-list.pt",
        "in-image.png",
    }
    assert reasons["sd2-style.pt"] == (
        "wrong dimension: its vectors have 1024 (SD 2.x) values, this model's text encoder takes 768 (SD 1.x)"
    )
    assert reasons["xl-only-g.safetensors"] == (
        "SDXL embedding (clip_g 1280): no part fits this model's text encoder (768)"
    )
    assert reasons["too-long.pt"] == "too many vectors: 76, a prompt chunk holds 75"
    assert reasons["corrupt.pt"] == (
        "refused: the safe loader cannot read it, it is not plain tensor data (Unsupported operand 0)"
    )
    assert reasons["text.pt"] == "unreadable: not a valid torch file (pop from empty list)"
    assert reasons["truncated.pt"].startswith("unreadable: not a valid torch file (PytorchStreamReader failed")
    assert reasons["corrupt.safetensors"].startswith("unreadable: not a valid safetensors file")
    assert reasons["empty.bin"] == "unreadable: the file is empty"
    assert reasons["two-tensors.bin"] == "unsupported content: expected one tensor, found 2"
    assert reasons["a-list.pt"] == "unsupported content: a list, not a dict or a tensor"
    assert reasons["in-image.png"] == "embeddings stored inside images are not supported"


def test_a_pickle_with_code_is_refused_and_its_code_never_runs(tmp_path, tokenizer):
    folder = tmp_path / "embeddings"
    folder.mkdir()
    # The payload is live: plain unpickling runs it.
    control = tmp_path / "control-marker"
    pickle.loads(pickle.dumps(TouchOnUnpickle(control)))
    assert control.exists()

    marker = tmp_path / "marker"
    torch.save({"string_to_param": {"*": vectors(1)}, "name": TouchOnUnpickle(marker)}, folder / "evil.pt")
    (folder / "evil-raw.bin").write_bytes(pickle.dumps({"<t>": TouchOnUnpickle(marker)}, protocol=2))

    report = EmbeddingDatabase(folder).load(tokenizer, SD1_DIM)

    assert not marker.exists()
    assert report.loaded == ()
    for file_name in ("evil.pt", "evil-raw.bin"):
        assert report.skipped[file_name].startswith("refused: it contains pickled code"), report.skipped


def test_names_are_found_in_token_ids_longest_first(tmp_path, tokenizer):
    folder = tmp_path / "embeddings"
    folder.mkdir()
    for name in ("my-style", "style", "style-two"):
        torch.save({"string_to_param": {"*": vectors(2)}}, folder / f"{name}.pt")
    db = EmbeddingDatabase(folder)
    db.load(tokenizer, SD1_DIM)

    ids = ids_of(tokenizer, "a photo in my-style, by artist")
    assert ids[3:6] == ids_of(tokenizer, "my-style") == [607, 268, 1844]  # "my", "-", "style": three ids
    found = db.find_at(ids, 3)
    assert found is not None and (found[0].name, found[1]) == ("my-style", 3)
    assert db.find_at(ids, 0) is None
    assert db.find_at(ids, 5)[0].name == "style"  # the tail of "my-style" alone is the shorter name
    assert db.find_at(ids, len(ids)) is None and db.find_at(ids, -1) is None

    # The tokenizer lowercases, so a differently cased name in the prompt is the same embedding.
    upper = ids_of(tokenizer, "in My-Style")
    assert db.find_at(upper, 1)[0].name == "my-style"

    two = ids_of(tokenizer, "in style-two art")
    assert db.find_at(two, 1)[0].name == "style-two" and db.find_at(two, 1)[1] == 3
    one = ids_of(tokenizer, "in style art")
    assert db.find_at(one, 1)[0].name == "style" and db.find_at(one, 1)[1] == 1
    # "style-" followed by something else is only "style".
    other = ids_of(tokenizer, "style-three")
    assert db.find_at(other, 0)[1] == 1


def test_names_that_tokenize_alike_are_reported_not_shadowed(tmp_path, tokenizer):
    folder = tmp_path / "embeddings"
    (folder / "more").mkdir(parents=True)
    torch.save(vectors(1), folder / "my-style.pt")
    torch.save(vectors(1), folder / "more" / "my-style.pt")
    torch.save(vectors(1), folder / "more" / "My-Style.safetensors.pt")
    torch.save(vectors(1), folder / "more" / "MY-STYLE.bin")

    report = EmbeddingDatabase(folder).load(tokenizer, SD1_DIM)

    assert report.loaded == ("My-Style.safetensors", "my-style")
    assert report.skipped == {
        "more/MY-STYLE.bin": "a name that reads as the same tokens ('my-style') is already loaded from my-style.pt",
        "more/my-style.pt": "the same name is already loaded from my-style.pt",
    }


def test_files_are_read_again_only_when_they_change(tmp_path, tokenizer):
    folder = tmp_path / "embeddings"
    folder.mkdir()
    for index, name in enumerate(("one", "two", "three")):
        torch.save({"string_to_param": {"*": vectors(1, seed=index)}}, folder / f"{name}.pt")
    db = EmbeddingDatabase(folder)

    first = db.load(tokenizer, SD1_DIM)
    assert (first.files_read, first.version, db.files_read) == (3, 1, 3)
    again = db.load(tokenizer, SD1_DIM)
    assert (again.files_read, again.version, db.files_read) == (0, 1, 3)

    # A changed file is read again, alone, and the version moves so cached conditioning is dropped.
    path = folder / "two.pt"
    before = path.stat()
    torch.save({"string_to_param": {"*": vectors(1, seed=99)}}, path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    changed = db.load(tokenizer, SD1_DIM)
    assert (changed.files_read, changed.version, db.files_read) == (1, 2, 4)
    assert torch.equal(db.embeddings["two"].vectors, vectors(1, seed=99))

    # A new file that cannot be used is read, but what prompts resolve to is unchanged.
    torch.save(vectors(1, 1024), folder / "wide.pt")
    unusable = db.load(tokenizer, SD1_DIM)
    assert (unusable.files_read, unusable.version) == (1, 2)
    assert "wide.pt" in unusable.skipped

    # A removed file needs no reading, only a new version.
    (folder / "one.pt").unlink()
    removed = db.load(tokenizer, SD1_DIM)
    assert (removed.files_read, removed.version, removed.loaded) == (0, 3, ("three", "two"))

    # Another tokenizer object re-tokenizes the names without reading files; same ids, same version.
    same_vocab = CLIPTokenizer.from_pretrained(SD1_CONFIG_DIR / "tokenizer")
    assert (db.load(same_vocab, SD1_DIM).files_read, db.version) == (0, 3)

    # A model with another width re-sorts the cached files, again without reading them.
    wide = db.load(same_vocab, 1024)
    assert (wide.files_read, wide.loaded, wide.version) == (0, ("wide",), 4)


def test_a_missing_folder_is_an_empty_database(tmp_path, tokenizer):
    db = EmbeddingDatabase(tmp_path / "nowhere")
    report = db.load(tokenizer, SD1_DIM)
    assert (report.loaded, report.skipped, report.files_read) == ((), {}, 0)
    assert db.find_at([320], 0) is None


def test_linked_folders_are_followed_and_a_link_loop_is_walked_once(tmp_path, tokenizer):
    folder = tmp_path / "embeddings"
    folder.mkdir()
    elsewhere = tmp_path / "collection"
    elsewhere.mkdir()
    torch.save(vectors(1), elsewhere / "linked-in.pt")
    torch.save(vectors(1), folder / "local.pt")
    (folder / "collection").symlink_to(elsewhere, target_is_directory=True)
    (folder / "loop").symlink_to(folder, target_is_directory=True)

    report = EmbeddingDatabase(folder).load(tokenizer, SD1_DIM)

    assert report.loaded == ("linked-in", "local")
    assert report.skipped == {}


def test_a_fifo_in_the_folder_is_passed_over_without_blocking(tmp_path, tokenizer):
    folder = tmp_path / "embeddings"
    folder.mkdir()
    os.mkfifo(folder / "stuck.pt")  # reading it would wait for a writer forever
    save_file({"emb_params": vectors(1)}, str(folder / "real.safetensors"))
    report = EmbeddingDatabase(folder).load(tokenizer, SD1_DIM)
    assert list(report.loaded) == ["real"] and "stuck" not in str(report.skipped)
