import threading
import weakref

from modules.jobs import JobOutOfMemory, JobQueue, JobState, is_out_of_memory


def test_fifo_one_at_a_time_with_positions_and_cancel():
    queue = JobQueue("test")
    gate = threading.Event()
    order, running = [], []

    def work(name):
        def run(job):
            running.append(name)
            assert len(running) == 1  # never two at once
            if name == "a":
                gate.wait(5)
            order.append(name)
            running.remove(name)
            return name

        return run

    a = queue.submit(work("a"))
    while a.state != JobState.RUNNING:
        a.wait(0.01)
    b, c, d = (queue.submit(work(n)) for n in "bcd")
    assert [queue.position(j) for j in (a, b, c, d)] == [0, 1, 2, 3]
    queue.cancel(c)
    assert c.state == JobState.CANCELLED and queue.position(d) == 2
    gate.set()
    assert d.outcome() == "d" and a.outcome() == "a"
    assert order == ["a", "b", "d"]
    queue.shutdown()


def test_a_failing_job_does_not_stop_the_queue():
    queue = JobQueue("test")

    def boom(job):
        raise ValueError("bad input")

    failed = queue.submit(boom)
    after = queue.submit(lambda job: 42)
    assert after.outcome() == 42
    assert failed.state == JobState.FAILED and str(failed.error) == "bad input"
    queue.shutdown()


def test_planned_parts_count_every_generation_of_a_script():
    from modules.jobs import Job, JobState

    job = Job(id="j", description="", work=lambda job: None, state=JobState.RUNNING)
    job.plan_parts(4)
    job.set_total(1, 10)  # part 1 of 4 starts
    job.report_step(0, 5, 10)
    assert job.fraction == 0.125
    job.set_total(2, 10)  # part 2: two batches
    assert job.fraction == 0.25
    job.report_step(1, 5, 10)
    assert job.fraction == (1 + 0.75) / 4
    for _ in range(5):  # more generations than planned stay on the last part
        job.set_total(1, 10)
    job.report_step(0, 10, 10)
    assert job.fraction == 1.0


def test_every_job_has_a_kind_and_runs_on_the_one_worker_thread():
    queue = JobQueue("kinds")
    threads = []

    def work(job):
        threads.append(threading.current_thread().name)
        return job.kind

    jobs = [queue.submit(work, kind=kind) for kind in ("generate", "extras", "merge", "load", "rembg")]
    plain = queue.submit(work)
    assert [j.outcome() for j in jobs] == ["generate", "extras", "merge", "load", "rembg"]
    assert plain.outcome() == "generate"  # the default kind
    assert threads == [queue.worker_name] * 6 and queue.worker_name == "kinds-worker"
    queue.shutdown()


def test_run_waits_behind_the_running_job_and_runs_inline_inside_a_job():
    queue = JobQueue("run")
    gate, started = threading.Event(), threading.Event()
    order = []

    def blocker(job):
        started.set()
        gate.wait(10)
        order.append("blocker")

    first = queue.submit(blocker)
    started.wait(10)
    answer = []
    caller = threading.Thread(target=lambda: answer.append(queue.run(lambda: order.append("rembg") or 7, "x", "rembg")))
    caller.start()
    while not [j for j in queue.listing() if j.kind == "rembg"]:  # queued behind the blocker
        caller.join(0.01)
    assert [j.kind for j in queue.listing()] == ["generate", "rembg"] and order == []
    gate.set()
    caller.join(10)
    assert answer == [7] and order == ["blocker", "rembg"] and first.state == JobState.DONE
    # Inside a job, run() cannot wait for itself: it runs the work inline on the worker.
    nested = queue.submit(lambda job: queue.run(lambda: threading.current_thread().name, "inner", "rembg"))
    assert nested.outcome() == queue.worker_name
    queue.shutdown()


def test_a_real_allocation_failure_fails_the_job_with_a_clear_message_and_the_next_job_runs():
    import torch

    queue = JobQueue("oom")
    held_refs = []

    def too_big(job):
        held = torch.ones(1 << 20)  # something the failed job holds: freed before the next job
        held_refs.append(weakref.ref(held))
        return held.sum() + torch.empty(1 << 60, dtype=torch.float32).sum()  # 4 EiB: cannot be allocated

    def wrapped(job):  # a script's failure wraps the error it met, as generation.py does
        try:
            too_big(job)
        except RuntimeError as error:
            raise RuntimeError(f"script 'X' failed: {type(error).__name__}: {error}") from error

    failed = queue.submit(too_big, description="txt2img: a cat", subject="64x64")
    after = queue.submit(lambda job: torch.ones(4).sum().item())
    assert after.outcome() == 4.0 and failed.state == JobState.FAILED
    message = str(failed.error)
    assert message.startswith("out of memory at 64x64: DefaultCPUAllocator: can't allocate memory"), message
    assert isinstance(failed.error, JobOutOfMemory) and failed.error.__cause__ is None
    assert held_refs[0]() is None  # the failed job's tensors did not outlive it
    also = queue.submit(wrapped, description="txt2img: a dog")
    assert also.wait(30) and str(also.error).startswith("out of memory at txt2img: a dog: DefaultCPUAllocator")
    plain_error = queue.submit(lambda job: (_ for _ in ()).throw(RuntimeError("shape mismatch")))
    assert plain_error.wait(30) and str(plain_error.error) == "shape mismatch"  # not every RuntimeError is OOM
    assert not is_out_of_memory(plain_error.error) and is_out_of_memory(MemoryError())
    queue.shutdown()
