import itertools
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modules.prompts.styles import (
    MAX_STYLE_FIELD_CHARS,
    MAX_STYLES_FILE_BYTES,
    Style,
    StyleDatabase,
    apply_styles_to_prompt,
    extract_styles_from,
    render_styles_csv,
)

REPO_ROOT = Path(__file__).resolve().parents[3]

TRICKY_CSV = (
    "\ufeffname,prompt,negative_prompt,notes\r\n"
    '"Cinematic, dark","{prompt}, film grain, ""moody""","blurry, lowres",keep me\r\n'
    "\r\n"
    'Plain, "line one\nline two",,\r\n'
    "Only name\r\n"
    ',"a row without a name",x,\r\n'
    "Extra,a,b,c,more values than columns\r\n"
)


def write_csv(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def test_reads_a1111_csv_with_bom_quotes_newlines_and_odd_rows(tmp_path):
    db = StyleDatabase(write_csv(tmp_path / "styles.csv", TRICKY_CSV))
    assert db.load_error is None
    assert list(db.styles.values()) == [
        Style("Cinematic, dark", '{prompt}, film grain, "moody"', "blurry, lowres"),
        Style("Plain", "line one\nline two", ""),
        Style("Only name", "", ""),
        Style("Extra", "a", "b"),
    ]


def test_missing_negative_column_legacy_text_column_and_missing_file(tmp_path):
    assert StyleDatabase(write_csv(tmp_path / "a.csv", "name,prompt\nOne,red\n")).styles == {
        "One": Style("One", "red", "")
    }
    assert StyleDatabase(write_csv(tmp_path / "b.csv", "name,text\nOld,blue\n")).styles == {
        "Old": Style("Old", "blue", "")
    }
    missing = StyleDatabase(tmp_path / "none.csv")
    assert (missing.styles, missing.load_error) == ({}, None)


def test_a_file_without_header_is_reported_and_never_overwritten(tmp_path):
    path = write_csv(tmp_path / "styles.csv", "just,some,values\n")
    db = StyleDatabase(path)
    assert db.styles == {}
    assert "header" in db.load_error
    with pytest.raises(ValueError, match="fix or move the file"):
        db.save(Style("New", "x"))
    assert path.read_text() == "just,some,values\n"


def test_a_style_longer_than_the_csv_field_limit_is_read_with_the_others(tmp_path):
    # A1111 or a text editor can write a style longer than Python's csv field limit (131,072
    # characters); before, that one row made the whole file unreadable.
    huge = "detailed, " * 20_000
    styles = {"Before": Style("Before", "a"), "Huge": Style("Huge", huge, "n"), "After": Style("After", "", "b")}
    path = write_csv(tmp_path / "styles.csv", "\ufeff" + render_styles_csv(styles))
    db = StyleDatabase(path)
    assert db.load_error is None and list(db.styles) == ["Before", "Huge", "After"]
    assert db.styles["Huge"] == Style("Huge", huge, "n")
    db.save(Style("New", "x"))  # rewriting keeps the long one
    assert StyleDatabase(path).styles["Huge"].prompt == huge


@pytest.mark.parametrize("field", ["name", "prompt", "negative_prompt"])
def test_saving_a_style_over_the_length_limit_is_refused_with_the_limit(tmp_path, field):
    path = write_csv(tmp_path / "styles.csv", "name,prompt,negative_prompt\nA,a,\n")
    before = path.read_bytes()
    db = StyleDatabase(path)
    style = Style(**{"name": "Long", field: "x" * (MAX_STYLE_FIELD_CHARS + 1)})
    label = field.replace("_", " ")
    with pytest.raises(ValueError, match=f"style's {label} is 65,537 characters long; the limit is 65,536"):
        db.save(style)
    assert path.read_bytes() == before and list(db.styles) == ["A"]
    db.save(Style("Longest", "x" * MAX_STYLE_FIELD_CHARS))
    assert len(StyleDatabase(path).styles["Longest"].prompt) == MAX_STYLE_FIELD_CHARS


def test_a_styles_file_over_the_size_limit_is_refused_and_never_overwritten(tmp_path):
    path = tmp_path / "styles.csv"
    with open(path, "wb") as handle:  # sparse: the size without the disk space
        handle.write(b"name,prompt,negative_prompt\n")
        handle.truncate(MAX_STYLES_FILE_BYTES + 1)
    db = StyleDatabase(path)
    assert db.styles == {} and "the limit is 67,108,864" in db.load_error
    with pytest.raises(ValueError, match="fix or move the file"):
        db.save(Style("New", "x"))
    assert path.stat().st_size == MAX_STYLES_FILE_BYTES + 1


def test_apply_with_and_without_placeholder_and_empty_parts():
    assert apply_styles_to_prompt("a cat", ["oil painting"]) == "a cat, oil painting"
    assert apply_styles_to_prompt("a cat", ["close-up of {prompt}, dramatic"]) == "close-up of a cat, dramatic"
    assert apply_styles_to_prompt("", ["oil painting"]) == "oil painting"
    assert apply_styles_to_prompt("a cat", [""]) == "a cat"
    assert apply_styles_to_prompt("  a cat ", [" oil painting  "]) == "a cat, oil painting"
    assert apply_styles_to_prompt("a cat", ["{prompt} and {prompt}"]) == "a cat and a cat"
    assert apply_styles_to_prompt("", ["{prompt}, dramatic"]) == ", dramatic"
    assert apply_styles_to_prompt("", ["photo of {prompt}"]) == "photo of"
    assert apply_styles_to_prompt("a cat", ["red", "{prompt}!", "blue"]) == "a cat, red!, blue"
    assert apply_styles_to_prompt(" untouched ", []) == " untouched "


def test_database_applies_several_styles_in_order_to_both_prompts(tmp_path):
    db = StyleDatabase(write_csv(tmp_path / "styles.csv", TRICKY_CSV))
    assert db.apply("a cat", "ugly", ["Cinematic, dark", "Extra"]) == (
        'a cat, film grain, "moody", a',
        "ugly, blurry, lowres, b",
    )
    assert db.apply("", "", ["Extra"]) == ("a", "b")


def test_unknown_style_names_are_named_in_the_error(tmp_path):
    db = StyleDatabase(write_csv(tmp_path / "styles.csv", TRICKY_CSV))
    with pytest.raises(ValueError, match=r"unknown style\(s\): 'Nope', 'Also nope'"):
        db.apply("a", "b", ["Extra", "Nope", "Also nope"])
    with pytest.raises(ValueError, match="unknown style: 'Nope'"):
        db.delete("Nope")


def test_save_and_delete_keep_other_rows_and_their_extra_columns(tmp_path):
    path = write_csv(tmp_path / "styles.csv", TRICKY_CSV)
    db = StyleDatabase(path)

    db.save(Style("Plain", "replaced", "neg"))  # replaced in its place
    db.save(Style("New, one", 'with "quotes", commas\nand a newline', ""))  # appended
    db.delete("Only name")

    expected = [
        Style("Cinematic, dark", '{prompt}, film grain, "moody"', "blurry, lowres"),
        Style("Plain", "replaced", "neg"),
        Style("Extra", "a", "b"),
        Style("New, one", 'with "quotes", commas\nand a newline', ""),
    ]
    assert list(db.styles.values()) == expected
    assert list(StyleDatabase(path).styles.values()) == expected
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfname,prompt,negative_prompt,notes\r\n")
    assert b'"Cinematic, dark","{prompt}, film grain, ""moody""","blurry, lowres",keep me\r\n' in data
    assert sorted(os.listdir(tmp_path)) == ["styles.csv"]  # no temp file left behind


def test_save_keeps_rows_another_process_added_meanwhile(tmp_path):
    path = write_csv(tmp_path / "styles.csv", "name,prompt,negative_prompt\nA,a,\n")
    db = StyleDatabase(path)
    write_csv(path, "name,prompt,negative_prompt\nA,a,\nB,b,\n")
    db.save(Style("C", "c"))
    assert list(StyleDatabase(path).styles) == ["A", "B", "C"]


def test_an_empty_name_is_refused(tmp_path):
    db = StyleDatabase(tmp_path / "styles.csv")
    for name in ("", "   "):
        with pytest.raises(ValueError, match="a style needs a name"):
            db.save(Style(name, "x"))
    assert not (tmp_path / "styles.csv").exists()


def test_saving_replaces_the_file_instead_of_rewriting_it(tmp_path):
    path = write_csv(tmp_path / "styles.csv", "name,prompt,negative_prompt\nA,a,\n")
    db = StyleDatabase(path)
    inode = path.stat().st_ino
    db.save(Style("B", "b"))
    # A new inode: the text went to another file that was then renamed over the old one.
    assert path.stat().st_ino != inode
    assert sorted(os.listdir(tmp_path)) == ["styles.csv"]


def test_a_reader_never_sees_a_partly_written_file(tmp_path):
    rows = 3000
    lines = ["name,prompt,negative_prompt"] + [f"style {index},{'masterpiece ' * 5},lowres" for index in range(rows)]
    path = write_csv(tmp_path / "styles.csv", "\n".join(lines) + "\ntoggled,0,\n")
    db = StyleDatabase(path)
    seen, problems, done = [], [], threading.Event()

    def read_repeatedly():
        while not done.is_set():
            reader_view = StyleDatabase(path).styles
            seen.append(len(reader_view))
            if len(reader_view) != rows + 1:
                problems.append(len(reader_view))

    reader = threading.Thread(target=read_repeatedly)
    reader.start()
    try:
        for round_ in range(15):
            db.save(Style("toggled", str(round_) * 50))
    finally:
        done.set()
        reader.join()
    assert seen and problems == []


def test_a_write_that_fails_midway_leaves_the_old_file_whole(tmp_path):
    path = write_csv(tmp_path / "styles.csv", "name,prompt,negative_prompt\nA,a,\n")
    before = path.read_bytes()
    # The file-size limit makes the write of the temp file fail partway (EFBIG), the way a full disk
    # would; it holds for root too, so it works where chmod-based tricks do not. A child process keeps
    # the limit away from the test runner.
    script = (
        "import resource, signal, sys\n"
        "from modules.prompts.styles import Style, StyleDatabase\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))\n"
        "db = StyleDatabase(sys.argv[1])\n"
        "try:\n"
        "    db.save(Style('Big', 'x' * 60_000))\n"
        "except OSError as error:\n"
        "    print('failed', error.errno, list(db.styles))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "failed 27 ['A']", result.stderr  # 27: EFBIG, file too large
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["styles.csv"]


def test_a_save_that_cannot_be_encoded_changes_nothing(tmp_path):
    path = write_csv(tmp_path / "styles.csv", "name,prompt,negative_prompt\nA,a,\n")
    before = path.read_bytes()
    db = StyleDatabase(path)
    with pytest.raises(UnicodeEncodeError):
        db.save(Style("Bad", "lone surrogate \ud800"))
    assert list(db.styles) == ["A"]
    assert path.read_bytes() == before


# --- taking styles back out -------------------------------------------------------------------------

ROUND_TRIP_STYLES = [
    Style("append", "APP one", "NAPP"),
    Style("wrap", "WRAP {prompt} END", "{prompt}, NWRAP"),
    Style("prefix", "PRE, {prompt}", ""),
    Style("negative only", "", "NEGONLY"),
    Style("twice", "{prompt} TWICE {prompt}", "NTWICE"),
    Style("quality", "QUALITY, APP one", "NQUALITY"),  # its tail is the whole of "append"
    Style("suffix", "{prompt}, SUF", "{prompt}, NSUF"),
]
BY_NAME = {style.name: style for style in ROUND_TRIP_STYLES}


def apply_named(names, prompt, negative):
    styles = [BY_NAME[name] for name in names]
    return (
        apply_styles_to_prompt(prompt, [s.prompt for s in styles]),
        apply_styles_to_prompt(negative, [s.negative_prompt for s in styles]),
    )


# Prompts made of what users type, but no capitals, so a prompt never ends with a style's own words.
prompt_text = st.text(alphabet="abcxyz019 ,()[]:.{}é-_", max_size=25).map(str.strip)


@settings(max_examples=400, deadline=None)
@given(
    prompt=prompt_text,
    negative=prompt_text,
    names=st.lists(st.sampled_from(list(BY_NAME)), unique=True, max_size=4),
)
def test_extract_undoes_apply(prompt, negative, names):
    applied = apply_named(names, prompt, negative)

    found, prompt_back, negative_back = extract_styles_from(ROUND_TRIP_STYLES, *applied)

    assert (prompt_back, negative_back) == (prompt, negative)
    assert sorted(found) == sorted(names)
    # Some styles commute (a prefix-only one and an appended one give the same text in either order);
    # then any order that gives the same text is right. Otherwise it must be exactly the applied order.
    orders = [list(order) for order in itertools.permutations(names) if apply_named(order, prompt, negative) == applied]
    assert found in orders
    if len(orders) == 1:
        assert found == names


def test_extract_pinned_examples(tmp_path):
    styles = [
        Style("best", "best quality", "lowres"),
        Style("master", "masterpiece, best quality", "lowres, jpeg"),
        Style("frame", "photo of {prompt}, 35mm", "{prompt}, cartoon"),
    ]
    # Longest first: "master" is taken, not its tail "best".
    assert extract_styles_from(styles, "a cat, masterpiece, best quality", "ugly, lowres, jpeg") == (
        ["master"],
        "a cat",
        "ugly",
    )
    # Both parts must match: the prompt fits "best" but the negative does not.
    assert extract_styles_from(styles, "a cat, best quality", "ugly") == ([], "a cat, best quality", "ugly")
    # Applied in order frame, then best: found in that order.
    assert extract_styles_from(styles, "photo of a dog, 35mm, best quality", "blurry, cartoon, lowres") == (
        ["frame", "best"],
        "a dog",
        "blurry",
    )
    # A style text must follow ", " to count as appended: "bestbest quality" is not "best" + style.
    assert extract_styles_from(styles, "bestbest quality", "lowres")[0] == []
    # Nothing found: the texts come back untouched, whitespace included.
    assert extract_styles_from(styles, " a cat ", "") == ([], " a cat ", "")

    db = StyleDatabase(tmp_path / "styles.csv")
    for style in styles:
        db.save(style)
    applied = db.apply("a cat", "ugly", ["best", "frame"])
    assert db.extract_styles(*applied) == (["best", "frame"], "a cat", "ugly")
