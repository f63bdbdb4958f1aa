"""The scheduler runs any mix of device and host work (tasks that yield, sleep, wait on
and fire signals, spawn tasks; callables queued now or later, some cancelled) in the
same order and at the same virtual times as the plain heap it replaced
(tests/heap_scheduler.py): the order of events is the same, run after run."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from nvmescope.sim import Scheduler
from tests.heap_scheduler import Scheduler as HeapScheduler

SIGNALS = 3

# one action of a task: ("yield",), ("sleep", ns), ("wait", k), ("fire", k),
# ("call", delay, host), ("cancel", i) (the i-th handle so far), ("spawn", delay, host, body)
action = st.recursive(
    st.one_of(
        st.just(("yield",)),
        st.tuples(st.just("sleep"), st.integers(0, 3)),
        st.tuples(st.just("wait"), st.integers(0, SIGNALS - 1)),
        st.tuples(st.just("fire"), st.integers(0, SIGNALS - 1)),
        st.tuples(st.just("call"), st.integers(0, 3), st.booleans()),
        st.tuples(st.just("cancel"), st.integers(0, 7)),
    ),
    lambda inner: st.tuples(
        st.just("spawn"), st.integers(0, 3), st.booleans(), st.lists(inner, max_size=6)
    ),
    max_leaves=12,
)
program = st.lists(
    st.tuples(st.integers(0, 3), st.booleans(), st.lists(action, max_size=8)),
    min_size=1,
    max_size=5,
)


def run(sched: Any, prog: list[Any], settle_every: int) -> list[tuple[Any, ...]]:
    seen: list[tuple[Any, ...]] = []
    signals = [sched.signal(f"s{k}") for k in range(SIGNALS)]
    handles: list[int] = []
    names = iter(range(10_000))

    def body(name: int, actions: list[Any]) -> Any:
        for n, act in enumerate(actions):
            seen.append((sched.now, name, n))
            if act[0] == "yield":
                yield None
            elif act[0] == "sleep":
                yield act[1]
            elif act[0] == "wait":
                yield signals[act[1]]
            elif act[0] == "fire":
                signals[act[1]].fire()
            elif act[0] == "call":
                tag = next(names)
                handles.append(
                    sched.call_after(act[1], lambda t=tag: seen.append((sched.now, "call", t)),
                                     host=act[2])
                )  # fmt: skip
            elif act[0] == "cancel":
                if handles:
                    sched.cancel(handles[act[1] % len(handles)])
            elif act[0] == "spawn":
                sched.spawn(body(next(names), act[3]), act[1], host=act[2])
        seen.append((sched.now, name, "end"))

    for delay, host, actions in prog:
        sched.spawn(body(next(names), actions), delay, host=host)
    steps = 0
    while True:
        if settle_every and steps % settle_every == 0:
            seen.append(("settled", sched.settle(1000), sched.now))
        seen.append(("next", sched.next_time(), sched.idle))
        if not sched.run_one():
            break
        steps += 1
    seen.append(("idle", sched.idle, sched.now))
    return seen


@settings(max_examples=400, deadline=None)
@given(program, st.integers(0, 3))
def test_the_scheduler_runs_work_in_the_order_the_plain_heap_did(prog, settle_every):
    assert run(Scheduler(), prog, settle_every) == run(HeapScheduler(), prog, settle_every)
