"""The wake-up call of idle worker threads (workflows_app.engine.listener.Wakeup)."""

from __future__ import annotations

import threading
import time

from workflows_app.engine.listener import Wakeup


def test_wakeup__times_out_when_nobody_rings() -> None:
    began = time.monotonic()
    assert Wakeup().wait(0.05) is False
    assert time.monotonic() - began >= 0.05


def test_wakeup__a_ring_before_the_wait_is_kept_for_it() -> None:
    wakeup = Wakeup()
    wakeup.wake()  # the notification came while the thread was still claiming
    assert wakeup.wait(5) is True
    assert wakeup.wait(0.01) is False  # and it is used once


def test_wakeup__keeps_at_most_one_ring_per_thread() -> None:
    wakeup = Wakeup(limit=2)
    wakeup.wake(5)
    assert [wakeup.wait(0.01) for _ in range(3)] == [True, True, False]


def test_wakeup__rings_a_waiting_thread() -> None:
    wakeup = Wakeup()
    woken = []
    thread = threading.Thread(target=lambda: woken.append(wakeup.wait(30)))
    thread.start()
    time.sleep(0.05)
    wakeup.wake()
    thread.join(timeout=5)
    assert woken == [True]


def test_wakeup__close_wakes_every_thread_now_and_later() -> None:
    wakeup = Wakeup(limit=3)
    woken = []
    threads = [threading.Thread(target=lambda: woken.append(wakeup.wait(30))) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.05)
    wakeup.close()
    for thread in threads:
        thread.join(timeout=5)
    assert woken == [True, True, True]
    assert wakeup.wait(30) is True  # a stopping worker does not wait any more
