"""The virtual clock and scheduler: deterministic order, tasks, signals."""

from nvmescope.sim import Scheduler


def run_all(s: Scheduler) -> None:
    while s.run_one():
        pass


def test_work_runs_in_time_order_and_ties_in_scheduling_order():
    s = Scheduler()
    seen: list[tuple[int, str]] = []
    s.call_at(50, lambda: seen.append((s.now, "b")))
    s.call_at(10, lambda: seen.append((s.now, "a")))
    s.call_at(50, lambda: seen.append((s.now, "c")))
    run_all(s)
    assert seen == [(10, "a"), (50, "b"), (50, "c")]
    assert s.idle


def test_a_task_sleeps_in_virtual_time():
    s = Scheduler()
    stamps: list[int] = []

    def task():
        stamps.append(s.now)
        yield 1000
        stamps.append(s.now)
        yield None
        stamps.append(s.now)

    s.spawn(task(), delay=5)
    run_all(s)
    assert stamps == [5, 1005, 1005]


def test_a_signal_fired_before_the_wait_is_not_lost():
    s = Scheduler()
    sig = s.signal("irq")
    woke: list[int] = []
    sig.fire()

    def waiter():
        yield sig
        woke.append(s.now)

    s.spawn(waiter(), delay=7)
    run_all(s)
    assert woke == [7]


def test_a_signal_wakes_every_waiter_once():
    s = Scheduler()
    sig = s.signal()
    woke: list[str] = []

    def waiter(name: str):
        yield sig
        woke.append(name)

    s.spawn(waiter("a"))
    s.spawn(waiter("b"))
    run_all(s)
    assert woke == []
    s.call_at(100, sig.fire)
    run_all(s)
    assert woke == ["a", "b"]
    assert s.now == 100


def test_cancelled_work_does_not_run():
    s = Scheduler()
    ran: list[int] = []
    h = s.call_after(10, lambda: ran.append(1))
    s.call_after(20, lambda: ran.append(2))
    s.cancel(h)
    run_all(s)
    assert ran == [2]


def test_cancelled_work_leaves_the_scheduler_idle_and_out_of_next_time():
    s = Scheduler()
    first = s.call_at(10, lambda: None)
    s.call_at(20, lambda: None)
    s.cancel(first)
    assert s.next_time() == 20
    s.run_one()
    assert s.idle and s.next_time() is None
    s.cancel(first)  # cancelling twice, or after the fact, is harmless
    assert s.idle


def test_cancelling_work_that_already_ran_changes_nothing():
    s = Scheduler()
    ran: list[int] = []
    h = s.call_at(5, lambda: ran.append(1))
    run_all(s)
    s.cancel(h)
    s.call_at(6, lambda: ran.append(2))
    run_all(s)
    assert ran == [1, 2]
