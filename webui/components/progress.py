"""The progress bar under the gallery: queue position, step, ETA."""

import html

from modules.jobs import Job, JobState


def progress_html(job: Job | None, position: int, loading_model: str | None = None) -> str:
    """`loading_model`: the checkpoint being loaded now (Engine.model_loading()): a job waiting
    behind that load, or running into it before its first step, says so instead of its queue place."""
    if job is None:
        return ""
    if loading_model and (job.state == JobState.QUEUED or (job.state == JobState.RUNNING and job.step == 0)):
        behind = f" · position {position} in queue" if position > 1 else ""
        return _bar(0.0, f"Loading model {loading_model}...{behind}")
    if job.state == JobState.QUEUED:
        return _bar(0.0, f"Waiting in queue: position {position}")
    if job.state == JobState.RUNNING:
        eta = job.eta_seconds
        text = f"Step {job.step}/{job.steps}"
        if job.batch_count > 1:
            text += f" · batch {job.batch_index + 1}/{job.batch_count}"
        if job.parts > 1:
            text += f" · {max(job.part, 0) + 1}/{job.parts}"
        if eta is not None:
            text += f" · ETA {eta:.0f}s"
        if job.interrupted:
            text += " · interrupting…"
        return _bar(job.fraction, text)
    return ""


def _bar(fraction: float, text: str) -> str:
    percent = max(0.0, min(100.0, fraction * 100))
    return (
        f'<div class="sd-progress" data-fraction="{fraction:.4f}">'
        f'<div class="sd-progress-fill" style="width:{percent:.1f}%"></div>'
        f'<span class="sd-progress-text">{html.escape(text)}</span></div>'
    )


def message_html(text: str, kind: str = "info") -> str:
    if not text:
        return ""
    return f'<div class="sd-message sd-message-{kind}">{html.escape(text)}</div>'
