"""A1111's "Prompts from file or textbox": one generation per line of a list, each line a prompt
or A1111's `--prompt "..." --steps 10 --seed 5 ...` options (see scripts/_prompt_lines.py).

Each line's options become request field overrides of `p.process()`, so a line's pictures are
exactly those of a request with those fields, and its infotext records them."""

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from modules.plugins.scripts import Script
from modules.processing.request import GenerationRequest, explain_error
from modules.sampling import catalog
from scripts._prompt_lines import MAX_FILE_BYTES, MAX_TEXT_LENGTH, parse_line, read_prompt_file, split_lines
from scripts._results import combine, interrupted, plan_parts


def _short(line: str, limit: int = 80) -> str:
    return line if len(line) <= limit else line[: limit - 3] + "..."


class PromptsFromFileArgs(BaseModel):
    # A1111's order (its positional script_args): iterate, same seed, position, the list.
    checkbox_iterate: bool = False  # "Iterate seed every line"
    checkbox_iterate_batch: bool = False  # "Use same random seed for all lines"
    prompt_position: Literal["start", "end"] = "start"  # "Insert prompts at the"
    prompt_txt: str = Field("", max_length=MAX_TEXT_LENGTH)  # "List of prompt inputs"

    @field_validator("prompt_txt")
    @classmethod
    def _lines_parse(cls, text: str) -> str:
        """Limits, line syntax and each value's own limits are checked when the request is
        submitted (a 422 naming the line), before anything is queued; run() checks each line
        again merged into the request (e.g. a line's size with the request's batch size)."""
        for number, line in enumerate(split_lines(text), 1):
            try:
                GenerationRequest.model_validate(parse_line(line))  # each value's own limits
            except ValueError as error:
                raise ValueError(f"line {number} ({_short(line)!r}): {explain_error(error)}") from None
        return text


def _joined(line_text: str | None, base: str, position: str) -> str | None:
    """A line's prompt with the request's own prompt before or after it (A1111: only when both
    are given; otherwise the line's prompt as it is)."""
    if not line_text or not base:
        return line_text
    return f"{line_text} {base}" if position == "start" else f"{base} {line_text}"


def load_upload(path, limit: int = MAX_FILE_BYTES):
    """The upload's event: (clear the upload, the file's text for the textbox); a file over the
    limit or unreadable is refused with a message in the UI."""
    import gradio as gr

    if not path:
        return None, gr.update()
    try:
        return None, read_prompt_file(path, limit)
    except (OSError, ValueError) as error:
        raise gr.Error(str(error)) from None


class PromptsFromFile(Script):
    title = "Prompts from file or textbox"
    Args = PromptsFromFileArgs

    def ui(self):
        import gradio as gr

        with gr.Row():
            iterate = gr.Checkbox(label="Iterate seed every line", value=False)
            same_seed = gr.Checkbox(label="Use same random seed for all lines", value=False)
        position = gr.Radio(["start", "end"], label="Insert prompts at the", value="start")
        text = gr.Textbox(value="", label="List of prompt inputs", lines=2)
        # The file's text goes into the textbox (as A1111): the list is always what the box shows.
        upload = gr.File(label="Upload prompt inputs", type="filepath", file_types=[".txt"])
        upload.upload(load_upload, inputs=upload, outputs=[upload, text], queue=False)
        return {
            "checkbox_iterate": iterate,
            "checkbox_iterate_batch": same_seed,
            "prompt_position": position,
            "prompt_txt": text,
            "prompt_file": upload,  # not an argument: only fills the textbox
        }

    def run(self, p, args: PromptsFromFileArgs):
        jobs = self.plan(p, args)
        request = p.request
        fresh_seeds = request.seed == -1 and not (args.checkbox_iterate or args.checkbox_iterate_batch)
        base_seed = p.seed
        per_line = request.batch_size * request.n_iter  # A1111 iterates by the request's count
        plan_parts(p, len(jobs))
        results = []
        for index, (number, line, overrides) in enumerate(jobs):
            if interrupted(p):
                break
            if "seed" not in overrides:
                if fresh_seeds:
                    from modules.sampling.noise import pick_seed  # torch: not at start-up

                    overrides["seed"] = pick_seed(-1)
                elif args.checkbox_iterate:
                    overrides["seed"] = base_seed + index * per_line
                else:
                    overrides["seed"] = base_seed
            try:
                results.append(p.process(**overrides))
            except ValueError as error:
                raise ValueError(f"line {number} ({_short(line)!r}): {error}") from error
        return combine(p, results)

    def plan(self, p, args: PromptsFromFileArgs) -> list[tuple[int, str, dict]]:
        """(line number, line, request overrides) of every line, all checked before any picture is
        made: a bad line raises ValueError naming it."""
        lines = split_lines(args.prompt_txt)
        if not lines:
            raise ValueError("the list of prompt inputs is empty")
        request = p.request
        jobs = []
        for number, line in enumerate(lines, 1):
            try:
                overrides = parse_line(line)
                for name in ("prompt", "negative_prompt"):
                    if name in overrides:
                        overrides[name] = _joined(overrides[name], getattr(request, name), args.prompt_position)
                merged = request.with_overrides(**overrides)  # the values' limits, before anything runs
                if "sampler_name" in overrides or "scheduler" in overrides:
                    catalog.resolve(merged.sampler_name, merged.scheduler)  # a misspelt name, before any picture
            except ValueError as error:
                raise ValueError(f"line {number} ({_short(line)!r}): {explain_error(error)}") from None
            jobs.append((number, line, overrides))
        return jobs
