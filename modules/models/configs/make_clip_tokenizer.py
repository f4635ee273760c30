"""Rebuild the CLIP BPE tokenizer files carried under configs/*/tokenizer and configs/*/tokenizer_2.

Every family's tokenizer folder holds the same vocab.json and merges.txt (copy them over after a
rebuild); only the pad token differs: "<|endoftext|>" for OpenAI's CLIP-L (SD 1.x, SDXL's first
encoder) and "!" (id 0) for OpenCLIP's encoders (SD 2.x, SDXL's bigG), set in
tokenizer_config.json and special_tokens_map.json.

Run once by a developer, never by the app: the app only reads the generated
vocab.json and merges.txt. The source is OpenAI's CLIP BPE merge list (MIT), as
shipped inside the open-clip-torch wheel (open_clip/bpe_simple_vocab_16e6.txt.gz);
fetch the wheel with `pip download --no-deps open-clip-torch` and pass the .gz path.
The id order (bytes, bytes+</w>, merges, then the two specials) is the one OpenAI's
tokenizer uses, so ids match the ones every SD 1.x text encoder was trained with.
"""

import gzip
import json
import sys
from pathlib import Path

MERGE_COUNT = 49152 - 256 - 2


def byte_to_unicode_table() -> dict[int, str]:
    # Printable bytes map to themselves; the rest are shifted past 255 so that
    # no token contains whitespace or control characters. Order matters: it is the id order.
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    others = [b for b in range(256) if b not in table]
    table.update({b: chr(256 + n) for n, b in enumerate(others)})
    return table


def build(bpe_gz: Path, out_dir: Path) -> None:
    lines = gzip.open(bpe_gz).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : MERGE_COUNT + 1]]
    base = list(byte_to_unicode_table().values())
    tokens = base + [t + "</w>" for t in base] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = {token: index for index, token in enumerate(tokens)}
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merge_text = "#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n"
    (out_dir / "merges.txt").write_text(merge_text, encoding="utf-8")


if __name__ == "__main__":
    build(Path(sys.argv[1]), Path(sys.argv[2]))
