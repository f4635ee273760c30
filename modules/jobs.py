"""One FIFO queue of jobs with one worker: one generation on the device at a time.

Every job carries its own progress and its own interrupt flag, so pressing Interrupt
stops only that job; a queued job that is interrupted never starts.

Every piece of device work goes through this one queue with a kind (generate, extras, merge, load,
rembg, embeddings, train), so two of them never fight for memory. A job that runs out of memory
fails with a message saying so, and what it held is freed before the next job starts.
"""

import gc
import itertools
import logging
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

log = logging.getLogger(__name__)

JOB_KINDS = ("generate", "extras", "merge", "load", "rembg", "embeddings", "train")


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class Job:
    id: str
    description: str
    work: Callable[["Job"], Any]
    kind: str = "generate"  # what sort of device work it is (JOB_KINDS)
    # What the job works on, for messages: "512x512" for a generation (the work may set it); the
    # description when not set.
    subject: str = ""
    state: JobState = JobState.QUEUED
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    batch_count: int = 1
    steps: int = 0
    batch_index: int = 0
    step: int = 0
    result: Any = None
    error: BaseException | None = None
    preview: Any = None  # the latest live preview (a PIL image), while it runs
    preview_id: int = -1  # counts previews, so a poller asks only for one it has not seen
    # A script that makes several generations in one job (X/Y/Z cells, loopback loops) plans them
    # with plan_parts(); each generation's set_total() then moves on to the next part.
    parts: int = 1
    part: int = -1
    _interrupt: threading.Event = field(default_factory=threading.Event)
    _skip: threading.Event = field(default_factory=threading.Event)
    _done: threading.Event = field(default_factory=threading.Event)

    # --- called by the work function -------------------------------------------------
    def set_total(self, batch_count: int, steps: int) -> None:
        """A generation starts: `batch_count` batches of `steps` steps (the next planned part)."""
        self.batch_count, self.steps = batch_count, steps
        self.batch_index, self.step = 0, 0
        if self.parts > 1:
            self.part = min(self.part + 1, self.parts - 1)

    def plan_parts(self, count: int) -> None:
        """This job will run `count` generations: progress counts them all (parts x batches x
        steps), as A1111's job_count does for a script's cells."""
        self.parts, self.part = max(1, int(count)), -1

    def report_step(self, batch_index: int, step: int, steps: int) -> None:
        self.batch_index, self.step, self.steps = batch_index, step, steps

    def should_stop(self) -> bool:
        """Stop the sampling now: the job was interrupted, or its current batch skipped."""
        return self._interrupt.is_set() or self._skip.is_set()

    @property
    def skip_pending(self) -> bool:
        return self._skip.is_set()

    def take_skip(self) -> bool:
        """True once after Skip was pressed: the batch that ended early was the skipped one."""
        if self._skip.is_set():
            self._skip.clear()
            return True
        return False

    def set_preview(self, image) -> None:
        self.preview, self.preview_id = image, self.preview_id + 1

    # --- called by whoever submitted it ----------------------------------------------
    def interrupt(self) -> None:
        self._interrupt.set()

    def skip(self) -> None:
        """End the current batch early (what it made is kept) and go on with the next."""
        self._skip.set()

    @property
    def interrupted(self) -> bool:
        return self._interrupt.is_set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    async def wait_async(self, poll: float = 0.05) -> None:
        """Wait on the event loop without holding a thread: many clients may wait at once,
        and the thread pool stays free for the routes that must answer at once."""
        import asyncio

        while not self._done.is_set():
            await asyncio.sleep(poll)

    def outcome(self) -> Any:
        """The result, or the work function's exception raised again."""
        self._done.wait()
        if self.error is not None:
            raise self.error
        return self.result

    @property
    def fraction(self) -> float:
        if self.state in (JobState.DONE, JobState.FAILED, JobState.CANCELLED):
            return 1.0
        total = max(1, self.batch_count * max(1, self.steps))
        inner = min(1.0, (self.batch_index * max(1, self.steps) + self.step) / total)
        if self.parts <= 1:
            return inner
        return min(1.0, (max(self.part, 0) + inner) / self.parts)

    @property
    def eta_seconds(self) -> float | None:
        if self.started is None or self.fraction <= 0:
            return None
        elapsed = time.time() - self.started
        return elapsed * (1 - self.fraction) / self.fraction


class JobQueue:
    def __init__(self, name: str = "generation"):
        self._pending: deque[Job] = deque()
        self._jobs: dict[str, Job] = {}
        self._current: Job | None = None
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._closed = False
        self._worker = threading.Thread(target=self._run, name=f"{name}-worker", daemon=True)
        self._worker.start()

    def submit(
        self,
        work: Callable[[Job], Any],
        description: str = "",
        job_id: str | None = None,
        kind: str = "generate",
        subject: str = "",
    ) -> Job:
        """Queue `work`. `job_id` is the client's own id (A1111's `force_task_id`); one already
        in use raises ValueError. `kind`: what sort of work it is (JOB_KINDS names ours; an
        extension may use its own); `subject`: what an out-of-memory message names ("512x512")."""
        if not kind:
            raise ValueError("a job needs a kind (e.g. 'generate')")
        with self._cond:
            if self._closed:
                raise RuntimeError("the job queue is shut down")
            if job_id is not None and job_id in self._jobs:
                raise ValueError(f"task id {job_id!r} is already in use")
            job = Job(id=job_id or f"job-{next(self._ids)}", description=description, work=work, kind=kind,
                      subject=subject)  # fmt: skip
            self._jobs[job.id] = job
            self._pending.append(job)
            self._cond.notify_all()
            return job

    def position(self, job: Job) -> int:
        """0 while running or finished, N when N-1 jobs wait ahead of it (1 = next)."""
        with self._cond:
            try:
                return self._pending.index(job) + 1
            except ValueError:
                return 0

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    @property
    def current(self) -> Job | None:
        return self._current

    @property
    def waiting(self) -> int:
        return len(self._pending)

    def listing(self) -> list[Job]:
        """The running job (first) and the queued ones in order."""
        with self._cond:
            return ([self._current] if self._current is not None else []) + list(self._pending)

    @property
    def worker_name(self) -> str:
        """The name of the thread every job runs on."""
        return self._worker.name

    def on_worker(self) -> bool:
        """True on the worker thread, i.e. inside a job: work there must run inline, since
        submitting it and waiting would wait for the job that waits."""
        return threading.current_thread() is self._worker

    def run(self, work: Callable[[], Any], description: str, kind: str) -> Any:
        """Run `work` as a job of `kind` and give its result (its error raised again), from a
        thread that may block (not the event loop); inline when already inside a job."""
        if self.on_worker():
            return work()
        return self.submit(lambda job: work(), description=description, kind=kind).outcome()

    def cancel(self, job: Job) -> None:
        """Interrupt a running job, or drop a queued one before it starts."""
        job.interrupt()
        with self._cond:
            if job in self._pending:
                self._pending.remove(job)
                self._finish(job, JobState.CANCELLED)

    def shutdown(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed and not self._pending:
                    return
                job = self._pending.popleft()
                self._current = job
                job.state, job.started = JobState.RUNNING, time.time()
            out_of_memory = False
            try:
                job.result = job.work(job)
                state = JobState.DONE
            except BaseException as error:  # the worker must outlive any one job
                state = JobState.FAILED
                out_of_memory = is_out_of_memory(error)
                if out_of_memory:
                    job.error = JobOutOfMemory(job.subject or job.description, error)
                    log.error("%s", job.error)
                else:
                    job.error = error
                    traceback.print_exception(error)
            if out_of_memory:  # outside the except block: the failed job's frames are gone now
                free_after_failure()
            with self._cond:
                self._current = None
                self._finish(job, state)
            self._forget_old()

    def _finish(self, job: Job, state: JobState) -> None:
        job.state, job.finished = state, time.time()
        job._done.set()

    def _forget_old(self, keep: int = 200) -> None:
        with self._cond:
            finished = [j for j in self._jobs.values() if j.done]
            for job in finished[:-keep]:
                self._jobs.pop(job.id, None)


class JobOutOfMemory(RuntimeError):
    """A job ran out of memory while it ran. The message names what it was making and the
    allocation that failed; the original error's traceback is dropped, so the tensors its frames
    held can be freed before the next job."""

    def __init__(self, subject: str, error: BaseException):
        cause = _allocation_failure(error) or error
        text = str(cause).strip()
        reason = text.splitlines()[0] if text else type(cause).__name__
        # The CPU allocator's message starts with its internal assertion: keep what it says.
        reason = reason[reason.index("DefaultCPUAllocator") :] if "DefaultCPUAllocator" in reason else reason
        super().__init__(f"out of memory at {subject}: {reason}")
        self.original_type = type(cause).__name__


_ALLOCATION_PHRASES = ("out of memory", "can't allocate memory", "cannot allocate memory", "failed to allocate",
                       "not enough memory", "defaultcpuallocator")  # fmt: skip


def is_out_of_memory(error: BaseException) -> bool:
    """torch's OutOfMemoryError, Python's MemoryError, or a RuntimeError whose message says an
    allocation failed (the CPU allocator raises a plain RuntimeError), here or in what caused it
    (a script's failure wraps the error it met)."""
    return _allocation_failure(error) is not None


def _allocation_failure(error: BaseException | None) -> BaseException | None:
    """The error in `error`'s cause chain that is an allocation failure, None when there is none."""
    torch = sys.modules.get("torch")  # never imported here: a job that failed in torch has it
    oom_type = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    seen = 0
    while error is not None and seen < 8:  # a cause chain is short; a cycle must not hang the worker
        if isinstance(error, MemoryError) or (oom_type is not None and isinstance(error, oom_type)):
            return error
        text = str(error).lower()
        if isinstance(error, RuntimeError) and any(phrase in text for phrase in _ALLOCATION_PHRASES):
            return error
        error, seen = error.__cause__ or error.__context__, seen + 1
    return None


def free_after_failure() -> None:
    """Give back what a failed job held: its objects (cycles included) and CUDA's cached blocks."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
