"""Identify Controller by hand: a host program that uses only the script API.

Run it from the repository root with the project's Python (after the README's
install):  .venv/bin/python examples/identify_by_hand.py
The same program, explained step by step, is in docs/host-api.md.
"""

from nvmescope.events import describe
from nvmescope.machine import Machine
from nvmescope.nvme.commands import pack_sqe, unpack_cqe

m = Machine(scenario=None)  # a controller and host memory, nothing running
api = m.api

# 1. PCI: place BAR0, then enable memory space and bus mastering.
api.config_write(0x10, 4, 0x0000_0000)  # BAR0 low half
api.config_write(0x14, 4, 0x0000_0001)  # BAR1 = high half: BAR0 at 0x1_0000_0000
api.config_write(0x04, 2, 0x0006)  # Command: Memory Space Enable | Bus Master Enable

# 2. Registers: read CAP and VS, disable, give the controller an admin queue.
cap = api.mmio_read64(0x00)
print(f"CAP = {cap:#018x}, VS = {api.mmio_read32(0x08):#x}")
api.mmio_write32(0x14, 0x0000_0000)  # CC.EN = 0
asq = api.alloc(4096)  # admin submission queue: 2 entries of 64 bytes fit easily
acq = api.alloc(4096)  # admin completion queue: 16-byte entries
api.mmio_write32(0x24, 0x0001_0001)  # AQA: 2-entry admin SQ and CQ (0's based)
api.mmio_write64(0x28, asq)  # ASQ
api.mmio_write64(0x30, acq)  # ACQ
api.mmio_write32(0x14, 0x0046_0001)  # CC: IOCQES=4, IOSQES=6, CSS=0 (NVM), EN=1

# 3. Wait for CSTS.RDY, polling every 100 us of virtual time.
while not api.mmio_read32(0x1C) & 1:
    api.run_for(100_000)

# 4. Identify Controller: an SQE in slot 0, then the SQ 0 tail doorbell.
buf = api.alloc(4096)
api.mem_write(asq, pack_sqe(opc=0x06, cid=7, prp1=buf, cdw10=0x01), "SQE identify")
api.mmio_write32(0x1000, 1)  # SQ 0 tail doorbell: tail 0 -> 1
api.run_until_idle()  # the device fetches, DMAs 4096 bytes, posts the CQE

# 5. Consume the completion: check the phase tag, then the CQ 0 head doorbell.
cqe = unpack_cqe(api.mem_read(acq, 16, "CQE"))
assert cqe.p == 1 and cqe.cid == 7, cqe
api.mmio_write32(0x1004, 1)  # CQ 0 head doorbell: head 0 -> 1
print(f"CQE: cid {cqe.cid}, status sct {cqe.sct} sc {cqe.sc}, sq head {cqe.sqhd}")

data = api.mem_read(buf, 4096, "Identify Controller data")
print("serial:", data[4:24].decode("ascii").strip())
print("model: ", data[24:64].decode("ascii").strip())
print("events:", len(m.events))
for event in m.events:
    if event.kind in ("doorbell_sq", "sqe_fetch", "dma_write", "cqe_post", "doorbell_cq"):
        print("  ", describe(event))
