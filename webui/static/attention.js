() => {
  // Ctrl+Up / Ctrl+Down in a prompt box change the attention weight of the selected text, or of
  // the word, (block:weight) or <lora:weight> under the cursor, as A1111's edit-attention.js
  // does: `word` -> `(word:1.1)` -> `(word:1.2)`; back at 1.0 the parentheses go.
  const ATTENTION_STEP = 0.1; // A1111's keyedit_precision_attention
  const EXTRA_STEP = 0.05; // keyedit_precision_extra, for <lora:name:weight>
  const DELIMITERS = ".,\\/!?%^*;:{}=`~() \t\r\n"; // keyedit_delimiters and its whitespace

  const isPromptBox = (el) => el && el.tagName === "TEXTAREA" && Boolean(el.closest("[id$='_prompt']"));

  // With nothing selected and the cursor inside open...close, the block's text (without ":weight").
  const blockAround = (text, cursor, open, close) => {
    const before = text.substring(0, cursor);
    const opened = before.lastIndexOf(open);
    if (opened === -1 || before.lastIndexOf(close) > opened) return null;
    const after = text.substring(cursor);
    const closed = after.indexOf(close);
    if (closed === -1) return null;
    const reopened = after.indexOf(open);
    if (reopened !== -1 && reopened < closed) return null;
    const content = text.substring(opened + 1, cursor + closed);
    const start = opened + 1;
    const end = /.*:-?[\d.]+/s.test(content) ? start + content.lastIndexOf(":") : start + content.length;
    return [start, end];
  };

  const wordAround = (text, cursor) => {
    let start = cursor;
    let end = cursor;
    while (start > 0 && !DELIMITERS.includes(text[start - 1])) start--;
    while (end < text.length && !DELIMITERS.includes(text[end])) end++;
    while (text[start] === " " && start < end) start++;
    while (text[end - 1] === " " && end > start) end--;
    return [start, end];
  };

  const formatWeight = (weight) => {
    const rounded = parseFloat(weight.toPrecision(12));
    return Number.isInteger(rounded) ? rounded + ".0" : String(rounded);
  };

  // The edit for text with [start, end) selected: {text, start, end} or null when nothing changes.
  const edit = (original, selStart, selEnd, up) => {
    let text = original;
    let start = selStart;
    let end = selEnd;
    if (start === end) {
      const found = blockAround(text, start, "<", ">") || blockAround(text, start, "(", ")") ||
        blockAround(text, start, "[", "]") || wordAround(text, start);
      [start, end] = found;
    }
    let close = ")";
    let step = ATTENTION_STEP;
    const before = start > 0 ? text[start - 1] : "";
    const after = text[end];
    if (before === "<") {
      close = ">";
      step = EXTRA_STEP;
    } else if ((before === "(" && after === ")") || (before === "[" && after === "]")) {
      // Old-style emphasis, ((word)) or [word]: rewritten as (word:weight) first.
      let depth = 0;
      while (text[start - depth - 1] === before && text[end + depth] === after) depth++;
      const weight = (before === "[" ? 1 / 1.1 : 1.1) ** depth;
      const rounded = Math.round(weight / ATTENTION_STEP) * ATTENTION_STEP;
      text = text.slice(0, start - depth) + "(" + text.slice(start, end) + ":" + formatWeight(rounded) + ")" +
        text.slice(end + depth);
      start -= depth - 1;
      end -= depth - 1;
    } else if (before !== "(") {
      while (end > start && text[end - 1] === " ") end--;
      if (start === end) return null;
      text = text.slice(0, start) + "(" + text.slice(start, end) + ":1.0)" + text.slice(end);
      start++;
      end++;
    }
    if (text[end] !== ":") return null;
    const weightLength = text.slice(end + 1).indexOf(close) + 1;
    const weight = parseFloat(text.slice(end + 1, end + weightLength));
    if (Number.isNaN(weight)) return null;
    const changed = formatWeight(weight + (up ? step : -step));
    if (close === ")" && parseFloat(changed) === 1) {
      const closeAt = text.substring(end).indexOf(")");
      text = text.slice(0, start - 1) + text.slice(start, end) + text.slice(end + closeAt + 1);
      start--;
      end--;
    } else {
      text = text.slice(0, end + 1) + changed + text.slice(end + weightLength);
    }
    return {text, start, end};
  };

  document.addEventListener("keydown", (event) => {
    const up = event.key === "ArrowUp";
    if (!(up || event.key === "ArrowDown") || !(event.ctrlKey || event.metaKey)) return;
    const box = event.target;
    if (!isPromptBox(box)) return;
    event.preventDefault();
    const result = edit(box.value, box.selectionStart, box.selectionEnd, up);
    if (!result) return;
    box.value = result.text;
    box.setSelectionRange(result.start, result.end);
    // Gradio's textbox follows its input event.
    box.dispatchEvent(new Event("input", {bubbles: true}));
  });
}
