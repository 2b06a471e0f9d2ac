"""Pausing the cycle collector: overlapping pauses from several threads, and what was off stays off."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from vhd_gui.gcpause import collector_paused


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_overlapping_pauses_in_two_threads_end_with_the_last() -> None:
    first_in, second_in, first_may_leave, first_left, second_may_leave = (threading.Event() for _ in range(5))
    seen: dict[str, bool] = {}

    def first() -> None:
        with collector_paused():
            first_in.set()
            first_may_leave.wait(5)
        first_left.set()

    def second() -> None:
        first_in.wait(5)
        with collector_paused():
            second_in.set()
            second_may_leave.wait(5)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    assert second_in.wait(5)
    assert not gc.isenabled()
    first_may_leave.set()
    assert first_left.wait(5)
    seen["after the first left"] = gc.isenabled()
    second_may_leave.set()
    for t in threads:
        t.join(5)
    assert seen["after the first left"] is False  # the second still builds its objects
    assert gc.isenabled()


def test_a_pause_inside_a_pause_and_one_that_raises() -> None:
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()
