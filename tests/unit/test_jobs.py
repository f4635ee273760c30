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
