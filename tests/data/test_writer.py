"""The background writer of dataset-wide generation: order, bounded queue, errors per key or fatal."""
import threading

import pytest

from wsss_zoo.data.writer import BackgroundWriter
from wsss_zoo.errors import DatasetError


def test_jobs_run_in_order_on_another_thread():
    seen, threads = [], set()
    writer = BackgroundWriter(depth=2)
    for i in range(20):
        writer.submit(i, lambda i=i: (seen.append(i), threads.add(threading.get_ident())))
    writer.close()
    assert seen == list(range(20)) and writer.done == 20
    assert threads and threading.get_ident() not in threads


def test_the_queue_is_bounded():
    gate, started = threading.Event(), threading.Event()
    writer = BackgroundWriter(depth=1)
    writer.submit("a", lambda: (started.set(), gate.wait(5)))
    started.wait(5)
    writer.submit("b", lambda: None)  # fills the queue
    blocked = threading.Thread(target=writer.submit, args=("c", lambda: None))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive()  # waits for room
    gate.set()
    blocked.join(5)
    writer.close()
    assert writer.done == 3


def test_keep_going_records_errors_per_key():
    writer = BackgroundWriter(keep_going=True)
    writer.submit("bad", lambda: (_ for _ in ()).throw(DatasetError("disk says no")))
    writer.submit("good", lambda: None)
    writer.close()
    assert writer.failed == {"bad": "disk says no"} and writer.done == 1


def test_a_failure_stops_the_writer_and_reaches_the_caller_with_its_key():
    writer = BackgroundWriter()
    writer.submit("x1", lambda: (_ for _ in ()).throw(DatasetError("no space")))
    ran = []
    with pytest.raises(DatasetError, match="^x1: no space$"):
        writer.submit("x2", lambda: ran.append(1))
        writer.close()
    writer.close()  # raised once
    assert not ran


def test_other_errors_are_raised_as_they_are_even_with_keep_going():
    writer = BackgroundWriter(keep_going=True)
    writer.submit("k", lambda: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(OSError, match="No space"):
        writer.close()
