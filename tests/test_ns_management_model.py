"""Any sequence of Namespace Management and Attachment commands: the controller's answers,
its allocated and active lists and UNVMCAP agree with a small reference model of the
specification's rules (hypothesis)."""

from __future__ import annotations

from emuhost import Rig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as s
from test_emulator_never_raises import assert_device_still_works
from test_ns_management import attach, create, ctrl_data, delete, mgmt_config, ns_list, status

from nvmescope.nvme import status as st
from nvmescope.nvme.commands import pack_sqe

MIB = 1 << 20
NN = 4
ALL = 0xFFFFFFFF
#: LBA format index -> bytes per block (None: has metadata, refused)
FORMATS = {0: 512, 4: 4096, 1: None}

op = s.one_of(
    s.tuples(s.just("create"), s.sampled_from([0, 1, 8, 4096, 32768, 200000]),
             s.sampled_from(sorted(FORMATS))),
    s.tuples(s.just("delete"), s.sampled_from([0, 1, 2, 3, 4, 5, ALL])),
    s.tuples(s.just("attach"), s.sampled_from([0, 1, 2, 3, 4, 5, ALL])),
    s.tuples(s.just("detach"), s.sampled_from([0, 1, 2, 3, 4, 5, ALL])),
)  # fmt: skip


class Model:
    def __init__(self, total: int) -> None:
        self.total = total
        self.allocated = {1: 64 * MIB}
        self.attached = {1}

    def free(self) -> int:
        return self.total - sum(self.allocated.values())

    def create(self, nsze: int, flbas: int) -> tuple[tuple[int, int], int | None]:
        lba = FORMATS[flbas]
        if nsze == 0:
            return st.INVALID_FIELD, None
        if lba is None:
            return st.INVALID_FORMAT, None
        if nsze * lba > self.free():
            return st.NS_INSUFFICIENT_CAPACITY, None
        nsid = next((n for n in range(1, NN + 1) if n not in self.allocated), None)
        if nsid is None:
            return st.NS_ID_UNAVAILABLE, None
        self.allocated[nsid] = nsze * lba
        return st.SUCCESS, nsid

    def _nsid(self, nsid: int) -> tuple[int, int] | None:
        if nsid == 0 or nsid > NN:
            return st.INVALID_NS_OR_FORMAT
        if nsid not in self.allocated:
            return st.INVALID_FIELD
        return None

    def delete(self, nsid: int) -> tuple[int, int]:
        if nsid == ALL:
            self.allocated.clear()
            self.attached.clear()
            return st.SUCCESS
        problem = self._nsid(nsid)
        if problem:
            return problem
        del self.allocated[nsid]
        self.attached.discard(nsid)
        return st.SUCCESS

    def attach(self, nsid: int, detach: bool) -> tuple[int, int]:
        problem = self._nsid(nsid)
        if problem:
            return problem
        if not detach and nsid in self.attached:
            return st.NS_ALREADY_ATTACHED
        if detach and nsid not in self.attached:
            return st.NS_NOT_ATTACHED
        (self.attached.discard if detach else self.attached.add)(nsid)
        return st.SUCCESS


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s.lists(op, max_size=12))
def test_the_controller_follows_the_reference_model(ops):
    rig = Rig(mgmt_config(nn=NN))
    rig.enable()
    model = Model(128 * MIB)
    for name, *args in ops:
        if name == "create":
            want, nsid = model.create(*args)
            cqe = create(rig, args[0], flbas=args[1])
            assert status(cqe) == want, (name, args)
            if nsid is not None:
                assert cqe.dw0 == nsid
        elif name == "delete":
            assert status(delete(rig, args[0])) == model.delete(args[0]), (name, args)
        else:
            want = model.attach(args[0], name == "detach")
            assert status(attach(rig, args[0], detach=name == "detach")) == want, (name, args)
    assert ns_list(rig, 0x10) == sorted(model.allocated)
    assert ns_list(rig, 0x02) == sorted(model.attached)
    assert ctrl_data(rig).unvmcap == model.free()
    assert sorted(rig.ctrl.namespaces) == sorted(model.attached)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    s.lists(
        s.tuples(
            s.sampled_from([0x0D, 0x15, 0x06, 0x02, 0x01, 0x09]),  # 01h, 09h: I/O on SQ1
            s.integers(0, 0xFFFFFFFF),
            s.integers(0, 0xFFFFFFFF),
            s.sampled_from([0, 1, 2, 3, 5, 0xFFFFFFFF]),
            s.binary(min_size=0, max_size=64),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_garbage_management_commands_and_io_meanwhile_never_break_the_device(cmds):

    rig = Rig(mgmt_config(nn=NN))
    rig.enable()
    rig.create_io_pair()
    buf = rig.host.alloc(2)
    for cid, (opc, cdw10, cdw11, nsid, data) in enumerate(cmds):
        rig.host.write(buf, data.ljust(64, b"\0"))
        if opc in (0x01, 0x09):  # a Write or a DSM on SQ1, not waited for
            rig.submit(1, pack_sqe(opc, cid, nsid=nsid, prp1=buf, cdw10=cdw10 & 0xFF))
        else:
            if opc == 0x06:
                cdw10 = 0x10 + (cdw10 & 3) | (cdw10 & 0xFFFF0000)
            elif opc == 0x02:
                cdw10 = 0x04 | (cdw10 & 0x8000) | (1023 << 16)
            rig.submit(0, pack_sqe(opc, cid, nsid=nsid, prp1=buf, cdw10=cdw10, cdw11=cdw11))
        for _ in range(3):
            rig.sched.run_one()  # the next command arrives while this one runs
    rig.run()
    while rig.reap(0) is not None:
        pass
    while rig.reap(1) is not None:
        pass
    assert set(rig.ctrl.namespaces) <= set(rig.ctrl.allocated)
    assert_device_still_works(rig)
