"""Verify (NVM opcode 0Ch): blocks checked on the medium, no data moved, LBA Out of Range
beyond the namespace, not limited by MDTS; ONCS bit 7 and the effects log say so, and
with the knob off (as QEMU 7.2 advertises) it is an Invalid Command Opcode."""

from __future__ import annotations

from emuhost import Rig

from nvmescope.emulator import ControllerConfig
from nvmescope.emulator.config import profile_config
from nvmescope.nvme import identify as idf
from nvmescope.nvme import logpages as lp
from nvmescope.nvme import status as st
from nvmescope.nvme.commands import pack_sqe

NSZE = 64 * 1024 * 1024 // 512


def make_rig(config: ControllerConfig | None = None) -> Rig:
    rig = Rig(config)
    rig.enable()
    rig.create_io_pair()
    return rig


def verify(rig: Rig, slba: int, nlb: int):
    cid = rig.next_cid()
    start = len(rig.events)
    rig.submit(1, pack_sqe(0x0C, cid, nsid=1, cdw10=slba & 0xFFFFFFFF, cdw11=slba >> 32,
                           cdw12=nlb - 1))  # fmt: skip
    rig.run()
    cqe = rig.reap(1)
    assert cqe is not None and cqe.cid == cid
    return (cqe.sct, cqe.sc), [e.kind for e in rig.events[start:] if getattr(e, "cid", 0) == cid]


def test_verify_of_blocks_that_exist_succeeds_and_moves_no_data():
    rig = make_rig()
    status, kinds = verify(rig, 0, 65536)  # 32 MiB: far beyond MDTS, which Verify ignores
    assert status == st.SUCCESS
    assert not {"map_prp", "map_sgl", "dma_read", "dma_write"} & set(kinds)


def test_verify_beyond_the_namespace_is_lba_out_of_range():
    rig = make_rig()
    assert verify(rig, NSZE - 1, 1)[0] == st.SUCCESS
    status, kinds = verify(rig, NSZE - 1, 2)
    assert status == st.LBA_OUT_OF_RANGE and "err_lba_range" in kinds


def test_verify_counts_as_a_host_read_command_in_smart():
    rig = make_rig()
    verify(rig, 0, 1)
    buf = rig.host.alloc()
    rig.admin(0x02, nsid=0xFFFFFFFF, prp1=buf, cdw10=0x02 | (127 << 16))
    smart = lp.SMART_LOG.parse(rig.host.read(buf, 512))
    assert smart.host_read_commands == 1


def _identify_and_effects(rig: Rig):
    buf = rig.host.alloc()
    rig.admin(0x06, prp1=buf, cdw10=1)
    ident = idf.IDENTIFY_CONTROLLER.parse(rig.host.read(buf, 4096))
    rig.admin(0x02, prp1=buf, cdw10=0x05 | (1023 << 16))
    effects = lp.COMMANDS_SUPPORTED_EFFECTS_LOG.parse(rig.host.read(buf, 4096))
    return ident.oncs, effects.iocs[0x0C]


def test_oncs_bit_7_and_the_effects_log_say_verify_when_it_is_there():
    oncs, iocs = _identify_and_effects(make_rig())
    assert oncs & idf.ONCS_VERIFY and iocs & lp.CMD_EFFECTS_CSUPP
    assert profile_config("qemu-7.2").verify is False  # as QEMU 7.2 advertises it
    rig = make_rig(ControllerConfig(verify=False))
    oncs, iocs = _identify_and_effects(rig)
    assert not oncs & idf.ONCS_VERIFY and iocs == 0
    assert verify(rig, 0, 1)[0] == st.INVALID_OPCODE
