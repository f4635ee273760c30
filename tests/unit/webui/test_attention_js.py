"""webui/static/attention.js run by node on a stand-in prompt box: Ctrl+Up / Ctrl+Down edit the
attention weight as A1111's edit-attention.js does."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "webui" / "static" / "attention.js"

# The page script's one listener, fed key presses on an object shaped like a prompt textarea.
HARNESS = """
const listeners = [];
globalThis.document = {addEventListener: (type, fn) => listeners.push(fn)};
globalThis.Event = class { constructor(type) { this.type = type; } };
(%s)();
const results = [];
for (const [text, start, end, keys] of %s) {
  const box = {
    tagName: "TEXTAREA", value: text, selectionStart: start, selectionEnd: end, inputs: 0,
    closest: (selector) => selector.includes("_prompt"),
    setSelectionRange(a, b) { this.selectionStart = a; this.selectionEnd = b; },
    dispatchEvent(event) { if (event.type === "input") this.inputs++; },
  };
  for (const key of keys) {
    const event = {key, ctrlKey: true, target: box, preventDefault() {}};
    listeners.forEach((fn) => fn(event));
  }
  results.push([box.value, box.value.slice(box.selectionStart, box.selectionEnd), box.inputs]);
}
console.log(JSON.stringify(results));
"""

UP, DOWN = "ArrowUp", "ArrowDown"
CASES = [
    # (text, selection start, selection end, keys) -> (text, still selected, input events)
    (("a cat, dog", 2, 5, [UP]), ("a (cat:1.1), dog", "cat", 1)),
    (("a cat, dog", 2, 5, [UP, UP]), ("a (cat:1.2), dog", "cat", 2)),
    (("a cat, dog", 2, 5, [UP, UP, DOWN]), ("a (cat:1.1), dog", "cat", 3)),
    (("a cat, dog", 2, 5, [UP, DOWN]), ("a cat, dog", "cat", 2)),  # back at 1.0 the parentheses go
    (("a cat, dog", 2, 5, [DOWN]), ("a (cat:0.9), dog", "cat", 1)),
    (("a cat, dog", 9, 9, [UP]), ("a cat, (dog:1.1)", "dog", 1)),  # the word under the cursor
    (("x, (red hat:1.3), y", 7, 7, [DOWN]), ("x, (red hat:1.2), y", "red hat", 1)),  # edited in place
    (("((old))", 3, 3, [UP]), ("(old:1.3)", "old", 1)),  # old-style emphasis rewritten
    (("<lora:ink:0.8>", 3, 3, [UP]), ("<lora:ink:0.85>", "lora:ink", 1)),  # extra networks step 0.05
    (("a   ", 1, 4, [UP]), ("a   ", "   ", 0)),  # only spaces selected: nothing to weigh
]


@pytest.mark.parametrize(("given", "expected"), CASES)
def test_edit_attention(given, expected):
    node = shutil.which("node")
    assert node, "node is needed to run the page script"
    program = HARNESS % (SCRIPT.read_text(encoding="utf-8").strip().rstrip(";"), json.dumps([given]))
    out = subprocess.run([node, "-e", program], capture_output=True, text=True, check=True, timeout=30)
    [result] = json.loads(out.stdout)
    assert tuple(result) == expected


def test_other_keys_are_left_alone():
    node = shutil.which("node")
    assert node
    program = HARNESS % (SCRIPT.read_text(encoding="utf-8").strip().rstrip(";"), json.dumps([["a cat", 2, 5, ["a"]]]))
    out = subprocess.run([node, "-e", program], capture_output=True, text=True, check=True, timeout=30)
    assert json.loads(out.stdout) == [["a cat", "cat", 0]]
