"""Progress, interrupt and skip: answered on the event loop, never behind waiting requests.

Every job has an id (A1111 clients choose it with `force_task_id`); interrupt and skip take
it, so one client cannot stop another's job. Without an id they act on the running job,
as A1111's global form does for old clients.
"""

import base64
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query
from pydantic import BaseModel, ConfigDict

from modules.api.models import ProgressResponse
from modules.engine import Engine
from modules.images.saving import png_bytes
from modules.jobs import Job, JobState


class TaskRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id_task: str | None = None


class InternalProgressBody(BaseModel):
    """A1111's /internal/progress request."""

    model_config = ConfigDict(extra="ignore")

    id_task: str | None = None
    id_live_preview: int = -1
    live_preview: bool = True


class InternalProgressResponse(BaseModel):
    active: bool
    queued: bool
    completed: bool
    progress: float | None = None
    eta: float | None = None
    live_preview: str | None = None
    id_live_preview: int | None = None
    textinfo: str | None = None
    kind: str | None = None  # ours: the job's kind (generate, extras, merge, load, rembg, embeddings, train)


# A body-less POST (old clients) is the global form; the id may come in the body or the query.
OptionalTask = Annotated[TaskRef | None, Body()]
QueryTask = Annotated[str | None, Query()]


def build_progress_router(engine: Engine) -> APIRouter:
    router = APIRouter(tags=["sdapi"])

    def target(body: TaskRef | None, id_task: str | None) -> Job | None:
        """The job named by the body or the query; without a name, the running one."""
        wanted = (body.id_task if body else None) or id_task
        if not wanted:
            return engine.queue.current
        job = engine.queue.get(wanted)
        if job is None:
            raise HTTPException(status_code=404, detail=f"no task with id {wanted!r}")
        return job

    @router.post("/interrupt")
    async def interrupt(body: OptionalTask = None, id_task: QueryTask = None) -> dict:
        job = target(body, id_task)
        if job is not None and not job.done:
            engine.queue.cancel(job)  # a queued job is dropped, a running one stops
        return {}

    @router.post("/skip")
    async def skip(body: OptionalTask = None, id_task: QueryTask = None) -> dict:
        job = target(body, id_task)
        if job is not None and not job.done:
            job.skip()
        return {}

    @router.get("/progress", response_model=ProgressResponse)
    async def progress(skip_current_image: bool = False) -> ProgressResponse:
        job = engine.queue.current
        if job is None:
            return ProgressResponse(progress=0.0, eta_relative=0.0, state=_state(None, engine))
        preview = job.preview
        current = _b64_png(preview) if preview is not None and not skip_current_image else None
        return ProgressResponse(
            progress=job.fraction,
            eta_relative=job.eta_seconds or 0.0,
            state=_state(job, engine),
            current_image=current,
            textinfo=None,
        )

    return router


def build_internal_router(engine: Engine) -> APIRouter:
    """A1111's /internal/progress, which its clients poll with the id they gave the job."""
    router = APIRouter(tags=["internal"])

    @router.post("/internal/progress", response_model=InternalProgressResponse)
    async def internal_progress(body: InternalProgressBody) -> InternalProgressResponse:
        job = engine.queue.get(body.id_task or "")
        if job is None:
            return InternalProgressResponse(
                active=False, queued=False, completed=False, id_live_preview=-1, textinfo="Waiting..."
            )
        if job.state == JobState.QUEUED:
            position = engine.queue.position(job)
            return InternalProgressResponse(active=False, queued=True, completed=False, id_live_preview=-1,
                                            textinfo=_queued_text(engine, position), kind=job.kind)  # fmt: skip
        if job.done:
            return InternalProgressResponse(active=False, queued=False, completed=True, progress=1.0, textinfo=None,
                                            kind=job.kind)  # fmt: skip
        preview, preview_id = job.preview, job.preview_id
        image = None
        if body.live_preview and preview is not None and preview_id != body.id_live_preview:
            image = "data:image/png;base64," + _b64_png(preview)
        return InternalProgressResponse(
            active=True,
            queued=False,
            completed=False,
            progress=job.fraction,
            eta=job.eta_seconds,
            live_preview=image,
            id_live_preview=preview_id if image else body.id_live_preview,
            textinfo=job.description,
            kind=job.kind,
        )

    return router


def _b64_png(image) -> str:
    return base64.b64encode(png_bytes(image, None)).decode("ascii")


def _state(job, engine) -> dict:
    return {
        "skipped": bool(job and job.skip_pending),
        "interrupted": bool(job and job.interrupted),
        "job": job.description if job else "",
        "job_kind": job.kind if job else "",  # ours: generate, extras, merge, load, rembg, embeddings, train
        "job_count": job.batch_count if job else 0,
        "job_no": job.batch_index if job else 0,
        "sampling_step": job.step if job else 0,
        "sampling_steps": job.steps if job else 0,
        "queued": engine.queue.waiting,
    }


def _queued_text(engine, position) -> str:
    loading = engine.model_loading()
    return f"Loading model {loading}..." if loading else f"In queue: {position}"
