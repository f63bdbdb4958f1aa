"""Event records: every kind encodes and decodes, the bus stamps and fans out."""

from typing import Union

import msgspec
import pytest
from samples import sample_event

from nvmescope import events as ev
from nvmescope.sim import Scheduler

DECODER = msgspec.msgpack.Decoder(Union[tuple(ev.EVENT_TYPES.values())])  # noqa: UP007


@pytest.mark.parametrize("kind", sorted(ev.EVENT_TYPES))
def test_every_kind_round_trips_through_messagepack(kind):
    original = sample_event(ev.EVENT_TYPES[kind])
    original.seq, original.ts = 3, 1234
    back = DECODER.decode(msgspec.msgpack.encode(original))
    assert back == original
    assert back.kind == kind


@pytest.mark.parametrize("kind", sorted(ev.EVENT_TYPES))
def test_every_kind_has_words_for_a_student(kind):
    text = ev.describe(sample_event(ev.EVENT_TYPES[kind]))
    assert text and text != "event"


def test_condition_kinds_are_the_qemu_style_err_and_ub_lists():
    assert all(k.startswith("err_") for k in ev.ERR_KINDS)
    assert all(k.startswith("ub_") for k in ev.UB_KINDS)
    for k in list(ev.ERR_KINDS) + list(ev.UB_KINDS):
        assert ev.EVENT_TYPES[k] is ev.CONDITIONS[k]
        assert ev.condition(k, detail="d").kind == k


def test_the_bus_stamps_sequence_time_and_command_context():
    s = Scheduler()
    bus = ev.EventBus(lambda: s.now)
    got: list[ev.Event] = []
    bus.subscribe(got.append)
    bus.emit(ev.HostStep(step="a", text="one"))
    s.now = 500
    bus.context = (1, 42)
    bus.emit(ev.DmaWrite(addr=0x1000, length=8))
    bus.emit(ev.HostStep(step="b", text="host events are not stamped with the device's context"))
    assert [e.seq for e in got] == [0, 1, 2]
    assert [e.ts for e in got] == [0, 500, 500]
    assert (got[1].sqid, got[1].cid) == (1, 42)
    assert got[2].sqid is None


def test_unsubscribe_stops_delivery():
    bus = ev.EventBus(lambda: 0)
    got: list[ev.Event] = []
    off = bus.subscribe(got.append)
    bus.emit(ev.HostStep(step="a", text="x"))
    off()
    bus.emit(ev.HostStep(step="a", text="y"))
    assert len(got) == 1
