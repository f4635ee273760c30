"""Textual-inversion embeddings: read the files in the embeddings folder, find their names in token ids.

A1111 matches an embedding on token ids, not on text: its name is tokenized once and a prompt's ids
are searched for that run of ids. CLIP's tokenizer lowercases, so "My-Style" in a prompt finds the
file "my-style.pt". The name is the file name without its extension, wherever it sits below the folder.
"""

import hashlib
import io
import os
import pickle
import re
import stat as stat_module
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

PICKLE_SUFFIXES = frozenset({".pt", ".bin", ".ckpt"})
SAFETENSORS_SUFFIX = ".safetensors"
IMAGE_SUFFIXES = frozenset({".png", ".webp", ".jpg", ".jpeg", ".avif"})
# A prompt chunk holds 75 tokens and an embedding never straddles two chunks, so more cannot be used.
MAX_VECTORS = 75
SHORT_HASH_LENGTH = 12  # A1111's "TI hashes" in infotexts use the first 12 hex digits of the sha256
_FAMILY_BY_DIM = {768: "SD 1.x", 1024: "SD 2.x", 1280: "SDXL's second encoder"}
_UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")
_UNPICKLER_ERROR = re.compile(r"WeightsUnpickler error:\s*([^\n]+)")


@dataclass(frozen=True)
class Embedding:
    name: str
    vectors: torch.Tensor  # [n, dim] float32 on the CPU; the caller moves it where it needs it
    path: Path
    step: int | None
    sd_checkpoint_name: str | None
    hash: str  # short hash, as written in infotexts
    sha256: str
    # Which layout the file used ("a1111", "a1111-safetensors", "diffusers", "tensor", "sdxl:clip_l"),
    # so a user can be told what was read.
    format: str
    # Every encoder's vectors by its width, for models with two text encoders (SDXL: clip_l 768 and
    # clip_g 1280); None: only `vectors`.
    by_width: dict[int, torch.Tensor] | None = None

    @property
    def vector_count(self) -> int:
        return self.vectors.shape[0]

    def vectors_for(self, width: int) -> torch.Tensor:
        """The vectors for a text encoder of this width."""
        if self.by_width is not None and width in self.by_width:
            return self.by_width[width]
        return self.vectors


@dataclass(frozen=True)
class LoadReport:
    loaded: tuple[str, ...]  # names, sorted
    skipped: dict[str, str]  # file path relative to the folder -> why it is not loaded
    version: int
    files_read: int  # files read by this call; 0 when nothing changed since the last one


class _Unusable(Exception):
    """A file that cannot become an embedding; the message is the reason shown to the user."""


@dataclass(frozen=True)
class _FileContent:
    """What one file holds, before it is matched to a model: parts are keyed "" or "clip_l"/"clip_g"."""

    parts: dict[str, torch.Tensor]
    step: int | None
    sd_checkpoint_name: str | None
    sha256: str
    format: str


@dataclass(frozen=True)
class _Snapshot:
    """Everything one load produced, swapped in as a whole so readers never see half of a reload."""

    embeddings: dict[str, Embedding]
    skipped: dict[str, str]
    # first token id -> (ids, embedding), longest first, so the first hit is the longest match
    index: dict[int, list[tuple[tuple[int, ...], Embedding]]]


class EmbeddingDatabase:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.files_read = 0  # total file reads, so a caller (or a test) can see that a load was cheap
        self._lock = threading.Lock()
        self._snapshot = _Snapshot({}, {}, {})
        self._cache: dict[str, tuple[int, int, _FileContent | str]] = {}  # rel path -> size, mtime, content
        self._inputs: tuple | None = None  # what the snapshot was built from
        self._tokenizer: Any = None
        self._fingerprint: tuple | None = None
        self._version = 0

    @property
    def embeddings(self) -> dict[str, Embedding]:
        return self._snapshot.embeddings

    @property
    def skipped(self) -> dict[str, str]:
        return self._snapshot.skipped

    @property
    def version(self) -> int:
        """Changes whenever what a prompt would resolve to changes: a conditioning cache keys on it."""
        return self._version

    def load(self, tokenizer, expected_dim: int | tuple[int, ...]) -> LoadReport:
        """Bring the database up to date with the folder; cheap (one directory walk) when nothing changed."""
        with self._lock:
            listing = _list_files(self.folder)
            inputs = (frozenset((rel, size, mtime) for rel, (_, size, mtime) in listing.items()), expected_dim)
            read = 0
            if inputs != self._inputs or tokenizer is not self._tokenizer:
                read = self._refresh_cache(listing)
                snapshot = _build_snapshot(self._cache, listing, tokenizer, expected_dim)
                fingerprint = _fingerprint(snapshot)
                # Snapshot before version: a reader in between caches new results under the old key,
                # which is never asked for again; the other order would file old results under the new key.
                self._snapshot = snapshot
                self._inputs, self._tokenizer = inputs, tokenizer
                if fingerprint != self._fingerprint:
                    self._fingerprint = fingerprint
                    self._version += 1
            snapshot = self._snapshot
            return LoadReport(tuple(sorted(snapshot.embeddings)), dict(snapshot.skipped), self._version, read)

    def find_at(self, token_ids: Sequence[int], offset: int) -> tuple[Embedding, int] | None:
        """The longest embedding whose name's ids start at `offset`, and how many ids it covers."""
        if not 0 <= offset < len(token_ids):
            return None
        for ids, embedding in self._snapshot.index.get(token_ids[offset], ()):
            if tuple(token_ids[offset : offset + len(ids)]) == ids:
                return embedding, len(ids)
        return None

    def _refresh_cache(self, listing: dict[str, tuple[Path, int, int]]) -> int:
        """Read only new or changed files; a file's reading does not depend on the model, so it is kept."""
        cache, read = {}, 0
        for rel, (path, size, mtime) in listing.items():
            cached = self._cache.get(rel)
            if cached is not None and cached[:2] == (size, mtime):
                cache[rel] = cached
                continue
            try:
                content: _FileContent | str = _read_file(path)
            except _Unusable as error:
                content = str(error)
            cache[rel] = (size, mtime, content)
            read += 1
        self._cache = cache
        self.files_read += read
        return read


def _list_files(folder: Path) -> dict[str, tuple[Path, int, int]]:
    """Candidate files below `folder` (hidden ones left out) -> (path, size, mtime).

    The order is stable: a folder's own files (sorted) before its subfolders (sorted), so when two files
    claim the same name the one nearer the top wins.
    """
    found: dict[str, tuple[Path, int, int]] = {}
    if not folder.is_dir():
        return found
    seen_dirs: set[str] = set()
    # Links are followed (users link collections in from elsewhere), so a folder reached twice is skipped.
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen_dirs:
            dirs[:] = []
            continue
        seen_dirs.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or not _is_candidate(name):
                continue
            path = Path(root) / name
            try:
                stat = path.stat()
            except OSError:  # vanished or a dangling link: not ours to report
                continue
            if not stat_module.S_ISREG(stat.st_mode):  # a FIFO or device would block the reader
                continue
            found[path.relative_to(folder).as_posix()] = (path, stat.st_size, stat.st_mtime_ns)
    return found


def _is_candidate(file_name: str) -> bool:
    """Embedding files and images that may hold one; notes, metadata and preview images beside them are not."""
    suffix = Path(file_name).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return ".preview." not in file_name.lower()
    return suffix in PICKLE_SUFFIXES or suffix == SAFETENSORS_SUFFIX


def _read_file(path: Path) -> _FileContent:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        raise _Unusable("embeddings stored inside images are not supported")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise _Unusable(f"unreadable: {error.strerror or error}") from error
    if not data:
        raise _Unusable("unreadable: the file is empty")
    sha256 = hashlib.sha256(data).hexdigest()
    if suffix == SAFETENSORS_SUFFIX:
        return _interpret(_load_safetensors(data), sha256)
    return _interpret(_load_pickle(data), sha256)


def _load_safetensors(data: bytes) -> dict[str, torch.Tensor]:
    from safetensors.torch import load

    try:
        return load(data)
    except Exception as error:  # safetensors raises its own error type for any malformed file
        raise _Unusable(f"unreadable: not a valid safetensors file ({error})") from error


def _load_pickle(data: bytes) -> Any:
    try:
        with warnings.catch_warnings():
            # old pickle protocols make torch warn; the file is refused or read either way
            warnings.simplefilter("ignore")
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        message = str(error)
        unsafe = _UNSAFE_GLOBAL.search(message)
        if unsafe:
            # Anything beyond tensors and plain values means code runs on unpickling, so it is never loaded.
            raise _Unusable(f"refused: it contains pickled code (it needs {unsafe[1]})") from error
        detail = _UNPICKLER_ERROR.search(message)
        reason = detail[1].strip() if detail else message.splitlines()[0]
        raise _Unusable(f"refused: the safe loader cannot read it, it is not plain tensor data ({reason})") from error
    except Exception as error:  # torch reports damaged archives as RuntimeError, EOFError, ...
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise _Unusable(f"unreadable: not a valid torch file ({detail})") from error


def _interpret(data: Any, sha256: str) -> _FileContent:
    """Tell the known layouts apart and pull out their vectors."""
    step = name = None
    if isinstance(data, torch.Tensor):
        parts, layout = {"": data}, "tensor"
    elif not isinstance(data, dict):
        raise _Unusable(f"unsupported content: a {type(data).__name__}, not a dict or a tensor")
    elif "string_to_param" in data:  # A1111 / original textual inversion
        params = data["string_to_param"]
        if not isinstance(params, dict) or len(params) != 1:
            raise _Unusable("unsupported content: string_to_param must hold exactly one tensor")
        parts, layout = {"": next(iter(params.values()))}, "a1111"
        step, name = data.get("step"), data.get("sd_checkpoint_name")
    elif "emb_params" in data:  # A1111's safetensors export
        parts, layout = {"": data["emb_params"]}, "a1111-safetensors"
    elif "clip_l" in data or "clip_g" in data:  # SDXL: one part per text encoder
        parts, layout = {key: data[key] for key in ("clip_l", "clip_g") if key in data}, "sdxl"
    else:  # diffusers: {"<token>": tensor}
        tensors = [value for value in data.values() if isinstance(value, torch.Tensor)]
        if len(tensors) != 1:
            raise _Unusable(f"unsupported content: expected one tensor, found {len(tensors)}")
        parts, layout = {"": tensors[0]}, "diffusers"
    return _FileContent(
        parts={key: _as_vectors(value) for key, value in parts.items()},
        step=step if isinstance(step, int) else None,
        sd_checkpoint_name=name if isinstance(name, str) else None,
        sha256=sha256,
        format=layout,
    )


def _as_vectors(value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        raise _Unusable("unsupported content: the vectors are not a floating-point tensor")
    if value.dim() == 1:  # diffusers stores a single vector as [dim]
        value = value.unsqueeze(0)
    if value.dim() != 2 or value.shape[0] == 0:
        raise _Unusable(f"unsupported content: vectors of shape {list(value.shape)}, expected [n, dim]")
    if value.shape[0] > MAX_VECTORS:
        raise _Unusable(f"too many vectors: {value.shape[0]}, a prompt chunk holds {MAX_VECTORS}")
    return value.detach().to(torch.float32).contiguous()


def _describe_dim(dim: int) -> str:
    family = _FAMILY_BY_DIM.get(dim)
    return f"{dim} ({family})" if family else str(dim)


def _vectors_for(content: _FileContent, expected_dim: int | tuple[int, ...]) -> tuple[torch.Tensor, str]:
    if isinstance(expected_dim, tuple):
        return _vectors_for_each(content, expected_dim)[0], content.format
    if content.format != "sdxl":
        vectors = content.parts[""]
        if vectors.shape[1] != expected_dim:
            raise _Unusable(
                f"wrong dimension: its vectors have {_describe_dim(vectors.shape[1])} values, "
                f"this model's text encoder takes {_describe_dim(expected_dim)}"
            )
        return vectors, content.format
    # An SDXL file holds one part per encoder; a model with a single encoder of a matching size can use that part.
    for key, vectors in content.parts.items():
        if vectors.shape[1] == expected_dim:
            return vectors, f"sdxl:{key}"
    sizes = ", ".join(f"{key} {vectors.shape[1]}" for key, vectors in content.parts.items())
    raise _Unusable(f"SDXL embedding ({sizes}): no part fits this model's text encoder ({expected_dim})")


def _vectors_for_each(content: _FileContent, widths: tuple[int, ...]) -> list[torch.Tensor]:
    """A model with several text encoders needs a part for each (SDXL's clip_l and clip_g)."""
    found = []
    for width in widths:
        match = [vectors for vectors in content.parts.values() if vectors.shape[1] == width]
        if not match:
            sizes = ", ".join(f"{key or 'vectors'} {vectors.shape[1]}" for key, vectors in content.parts.items())
            wanted = " and ".join(str(w) for w in widths)
            raise _Unusable(f"this model's text encoders take {wanted} values per vector; the file has {sizes}")
        found.append(match[0])
    if len({vectors.shape[0] for vectors in found}) != 1:
        raise _Unusable("its parts hold different numbers of vectors")
    return found


def _build_snapshot(cache, listing, tokenizer, expected_dim: int | tuple[int, ...]) -> _Snapshot:
    embeddings: dict[str, Embedding] = {}
    skipped: dict[str, str] = {}
    owner_of_ids: dict[tuple[int, ...], tuple[str, str]] = {}  # ids -> (name, relative path)
    index: dict[int, list[tuple[tuple[int, ...], Embedding]]] = {}
    for rel, (path, _, _) in listing.items():
        content = cache[rel][2]
        if isinstance(content, str):
            skipped[rel] = content
            continue
        name = path.stem
        try:
            vectors, layout = _vectors_for(content, expected_dim)
        except _Unusable as error:
            skipped[rel] = str(error)
            continue
        ids = tuple(tokenizer(name, add_special_tokens=False).input_ids)
        if not ids:
            skipped[rel] = f"the name {name!r} gives no tokens, so no prompt can use it"
            continue
        if ids in owner_of_ids:
            # The walk order decides which file wins; the other is reported rather than silently shadowed.
            owner_name, owner_rel = owner_of_ids[ids]
            what = "the same name" if owner_name == name else f"a name that reads as the same tokens ({owner_name!r})"
            skipped[rel] = f"{what} is already loaded from {owner_rel}"
            continue
        embedding = Embedding(
            name=name,
            vectors=vectors,
            path=path,
            step=content.step,
            sd_checkpoint_name=content.sd_checkpoint_name,
            hash=content.sha256[:SHORT_HASH_LENGTH],
            sha256=content.sha256,
            format=layout,
            by_width=_by_width(content, expected_dim),
        )
        owner_of_ids[ids] = (name, rel)
        embeddings[name] = embedding
        index.setdefault(ids[0], []).append((ids, embedding))
    for candidates in index.values():
        candidates.sort(key=lambda entry: len(entry[0]), reverse=True)
    return _Snapshot(embeddings, skipped, index)


def _by_width(content: _FileContent, expected_dim: int | tuple[int, ...]) -> dict[int, torch.Tensor] | None:
    if not isinstance(expected_dim, tuple):
        return None
    return {vectors.shape[1]: vectors for vectors in _vectors_for_each(content, expected_dim)}


def _fingerprint(snapshot: _Snapshot) -> tuple:
    """What the conditioning depends on: which names exist, their ids and their exact vectors."""
    entries = []
    for candidates in snapshot.index.values():
        for ids, embedding in candidates:
            entries.append((embedding.name, ids, embedding.sha256, embedding.format))
    return tuple(sorted(entries))
