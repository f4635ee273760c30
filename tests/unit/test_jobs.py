import threading

from modules.jobs import JobQueue, JobState


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
