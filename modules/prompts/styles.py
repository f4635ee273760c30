"""A1111 prompt styles: named prompt and negative-prompt texts kept in styles.csv.

A style is applied by putting the prompt where its text says `{prompt}`, or, without a placeholder,
by appending its text after ", ". Taking styles back out of a pasted infotext undoes exactly that:
a style is only taken out when re-applying it gives back the very same text.
"""

import csv
import io
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from modules.atomic import write_text_atomic

PLACEHOLDER = "{prompt}"
FIELDS = ("name", "prompt", "negative_prompt")  # A1111's header, in A1111's order
_LEGACY_PROMPT_FIELD = "text"  # very old A1111 files named the prompt column "text"
_BOM = "\ufeff"  # A1111 writes utf-8-sig; spreadsheet programs need it to read the file as UTF-8
MAX_STYLE_FIELD_CHARS = 65_536  # longest name, prompt or negative prompt a style may be saved with
MAX_STYLES_FILE_BYTES = 64 * 1024 * 1024  # a bigger styles.csv is refused rather than read into memory


@dataclass(frozen=True)
class Style:
    name: str
    prompt: str = ""
    negative_prompt: str = ""


def merge_style(style_text: str, prompt: str) -> str:
    """One style text applied to one prompt (the outer whitespace of both is not kept)."""
    style_text, prompt = style_text.strip(), prompt.strip()
    if PLACEHOLDER in style_text:
        return style_text.replace(PLACEHOLDER, prompt).strip()
    return ", ".join(part for part in (prompt, style_text) if part)


def apply_styles_to_prompt(prompt: str, styles: Iterable[str]) -> str:
    for style_text in styles:
        prompt = merge_style(style_text, prompt)
    return prompt


def unmerge_style(style_text: str, text: str) -> str | None:
    """The prompt that `style_text` turned into `text`, or None when no prompt gives `text`.

    There is at most one such prompt (its length is fixed by the text's), so the candidate is
    simply checked by applying the style again; that check is what makes extraction exact.
    """
    style_text = style_text.strip()
    for candidate in _unmerge_candidates(style_text, text):
        if merge_style(style_text, candidate) == text:
            return candidate
    return None


def _unmerge_candidates(style_text: str, text: str) -> Iterator[str]:
    yield ""
    if PLACEHOLDER in style_text:
        pieces = style_text.split(PLACEHOLDER)
        copies = len(pieces) - 1
        length, remainder = divmod(len(text) - sum(map(len, pieces)), copies)
        if length > 0 and not remainder:
            yield text[len(pieces[0]) : len(pieces[0]) + length]
    elif not style_text:
        yield text
    elif text.endswith(", " + style_text):
        yield text[: -len(style_text) - 2]


def extract_styles_from(styles: Sequence[Style], prompt: str, negative_prompt: str) -> tuple[list[str], str, str]:
    """Which of `styles` were applied to give these texts, in the order they were applied, and the texts
    before them. A style counts only when both its parts match; each is taken out at most once; a style
    with both parts empty never matches. When nothing matches, the texts come back untouched."""
    # Longer styles first, so that among equally good answers "masterpiece, best quality" is taken
    # rather than its tail "best quality".
    candidates = [style for style in styles if style.prompt.strip() or style.negative_prompt.strip()]
    candidates.sort(key=lambda style: len(style.prompt.strip()) + len(style.negative_prompt.strip()), reverse=True)
    names, stripped_prompt, stripped_negative = _StyleSearch(candidates).best(
        tuple(range(len(candidates))), prompt.strip(), negative_prompt.strip()
    )
    if not names:
        return [], prompt, negative_prompt
    return list(reversed(names)), stripped_prompt, stripped_negative


class _StyleSearch:
    """Undo styles from the outside in, keeping the way that explains the most styles.

    A1111 takes the first style that matches and goes on, but that can walk into a dead end: with
    "PRE, {prompt}" applied first and "{prompt} TWICE {prompt}" wrapped around it, the outer text also
    starts with "PRE, ", and taking that out first leaves a text the other style no longer fits. So every
    matching style is tried, results are remembered per state, and a budget bounds pathological files.
    """

    BUDGET = 2_000  # states explored before the search settles for the best answer found so far

    def __init__(self, candidates: Sequence[Style]):
        self.candidates = candidates
        self.memo: dict[tuple, tuple[tuple[str, ...], str, str]] = {}
        self.explored = 0

    def best(self, remaining: tuple[int, ...], prompt: str, negative: str) -> tuple[tuple[str, ...], str, str]:
        key = (remaining, prompt, negative)
        if key in self.memo:
            return self.memo[key]
        self.explored += 1
        best: tuple[tuple[str, ...], str, str] = ((), prompt, negative)
        for position, index in enumerate(remaining):
            if self.explored > self.BUDGET:
                break
            style = self.candidates[index]
            before = unmerge_style(style.prompt, prompt)
            before_negative = unmerge_style(style.negative_prompt, negative) if before is not None else None
            if before is None or before_negative is None:
                continue
            rest = remaining[:position] + remaining[position + 1 :]
            names, inner_prompt, inner_negative = self.best(rest, before, before_negative)
            if len(names) + 1 > len(best[0]):
                best = ((style.name, *names), inner_prompt, inner_negative)
                if len(best[0]) == len(remaining):  # every style explained: nothing can do better
                    break
        self.memo[key] = best
        return best


class StyleDatabase:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._styles: dict[str, Style] = {}
        # Columns other programs added: kept, with their values, when the file is written back.
        self._extra_fields: list[str] = []
        self._extras: dict[str, dict[str, str]] = {}
        self.load_error: str | None = None
        self.reload()

    @property
    def styles(self) -> dict[str, Style]:
        return self._styles

    def reload(self) -> None:
        with self._lock:
            self._read()

    def apply(self, prompt: str, negative_prompt: str, names: Iterable[str]) -> tuple[str, str]:
        styles = self._resolve(names)
        return (
            apply_styles_to_prompt(prompt, [style.prompt for style in styles]),
            apply_styles_to_prompt(negative_prompt, [style.negative_prompt for style in styles]),
        )

    def extract_styles(self, prompt: str, negative_prompt: str) -> tuple[list[str], str, str]:
        return extract_styles_from(list(self._styles.values()), prompt, negative_prompt)

    def save(self, style: Style) -> None:
        """Add the style, or replace the one of that name in its place; every other row is kept."""
        if not style.name.strip():
            raise ValueError("a style needs a name")
        for label, text in (("name", style.name), ("prompt", style.prompt), ("negative prompt", style.negative_prompt)):
            if len(text) > MAX_STYLE_FIELD_CHARS:
                raise ValueError(
                    f"the style's {label} is {len(text):,} characters long; the limit is {MAX_STYLE_FIELD_CHARS:,}"
                )
        with self._lock:
            self._read()  # the file is the truth: rows another process added since are kept
            styles = dict(self._styles)
            styles[style.name] = style
            self._write(styles)

    def delete(self, name: str) -> None:
        with self._lock:
            self._read()
            if name not in self._styles:
                raise ValueError(f"unknown style: {name!r}")
            styles = {key: style for key, style in self._styles.items() if key != name}
            self._write(styles)

    def _resolve(self, names: Iterable[str]) -> list[Style]:
        names = [names] if isinstance(names, str) else list(names)  # one name, not its letters
        styles = self._styles
        unknown = [name for name in names if name not in styles]
        if unknown:
            raise ValueError("unknown style(s): " + ", ".join(repr(name) for name in unknown))
        return [styles[name] for name in names]

    def _read(self) -> None:
        try:
            size = self.path.stat().st_size
            if size > MAX_STYLES_FILE_BYTES:
                self._fail(f"cannot read {self.path}: it is {size:,} bytes; the limit is {MAX_STYLES_FILE_BYTES:,}")
                return
            text = self.path.read_bytes().decode("utf-8-sig")
        except FileNotFoundError:
            text = ""
        except (OSError, UnicodeDecodeError) as error:
            self._fail(f"cannot read {self.path}: {error}")
            return
        try:
            styles, extra_fields, extras = parse_styles_csv(text)
        except (ValueError, csv.Error) as error:
            self._fail(f"cannot read {self.path}: {error}")
            return
        self._styles, self._extra_fields, self._extras, self.load_error = styles, extra_fields, extras, None

    def _fail(self, message: str) -> None:
        # No styles rather than a crash at start-up; writing is refused so the user's file is never overwritten.
        self._styles, self._extra_fields, self._extras, self.load_error = {}, [], {}, message

    def _write(self, styles: dict[str, Style]) -> None:
        if self.load_error:
            raise ValueError(f"{self.load_error}; fix or move the file before saving styles")
        extras = {name: values for name, values in self._extras.items() if name in styles}
        write_text_atomic(self.path, _BOM + render_styles_csv(styles, self._extra_fields, extras))
        self._styles, self._extras = styles, extras  # only once the file holds them


def parse_styles_csv(text: str) -> tuple[dict[str, Style], list[str], dict[str, dict[str, str]]]:
    """Styles by name (a later row of the same name wins, as in A1111), the extra column names, and
    each style's values in those columns. Blank lines and rows without a name are skipped."""
    if not text.strip():
        return {}, [], {}
    _allow_fields_up_to(len(text))
    reader = csv.DictReader(io.StringIO(text, newline=""), skipinitialspace=True)
    header = [field for field in reader.fieldnames or [] if field is not None]
    if "name" not in header:
        raise ValueError("the first row must be the header, with a 'name' column")
    prompt_field = "prompt" if "prompt" in header or _LEGACY_PROMPT_FIELD not in header else _LEGACY_PROMPT_FIELD
    extra_fields = [field for field in header if field not in FIELDS and field != prompt_field]
    styles: dict[str, Style] = {}
    extras: dict[str, dict[str, str]] = {}
    for row in reader:
        name = row.get("name") or ""
        if not name.strip():
            continue
        styles.pop(name, None)  # a repeated name takes the later row's place and values
        styles[name] = Style(name, row.get(prompt_field) or "", row.get("negative_prompt") or "")
        extras[name] = {field: row.get(field) or "" for field in extra_fields}
    return styles, extra_fields, extras


def _allow_fields_up_to(length: int) -> None:
    """Let the csv module read fields as long as the whole text. Its default limit (131,072
    characters) would make one long style, which A1111 or a text editor can write, fail the whole
    file. The limit is process-wide; it is only ever raised, which loosens nothing anyone relies on."""
    if csv.field_size_limit() < length:
        csv.field_size_limit(length)


def render_styles_csv(
    styles: dict[str, Style], extra_fields: Sequence[str] = (), extras: dict[str, dict[str, str]] | None = None
) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)  # minimal quoting, "\r\n" rows: what A1111 writes
    writer.writerow([*FIELDS, *extra_fields])
    for style in styles.values():
        values = (extras or {}).get(style.name, {})
        writer.writerow([style.name, style.prompt, style.negative_prompt, *(values.get(f, "") for f in extra_fields)])
    return buffer.getvalue()
