"""The ``ns-mgmt`` scenario: a namespace created, attached, used, detached and deleted.

It runs on a controller with Namespace Management (``ns_mgmt``), room for a second
namespace (``nn`` 4) and Namespace Attribute Notices (``oaes`` 0x100); the scenario's
knobs set them unless the user sets them. With ``-c ns_mgmt=0`` the story is the
refusal: Invalid Command Opcode.

The steps, each checked: Identify Controller (OACS bit 3, TNVMCAP, UNVMCAP); Identify
Namespace with NSID FFFFFFFFh (the LBA formats a new namespace may take); the allocated
list (CNS 10h); create (the NSID in Dword 0) and a create too big for UNVMCAP
(Namespace Insufficient Capacity); the new namespace allocated but not active (CNS 10h,
CNS 02h, CNS 11h, CNS 00h all zeros); an attach with an empty Controller List
(Controller List Invalid); the attach, the Namespace Attribute Changed notice and
Linux's rescan (Changed Namespace List, active list, the namespace identified); its
controller list (CNS 12h); a write and a read back on it; the detach, the second notice
(the first was cleared by the rescan's read of log 04h) and the rescan that removes it;
a write to it now (Invalid Field: inactive), a second detach (Namespace Not Attached);
the delete, the allocated list again and a second delete (Invalid Field).
"""

from __future__ import annotations

from nvmescope.nvme import identify as idf
from nvmescope.nvme import status as st

from .driver import ACTION_NS, LinuxDriver, Task
from .scenarios import SCENARIOS, Scenario, ScenarioRun, bring_up, check, compare, expect

#: the controller the story needs (used unless the user sets these knobs)
NS_MGMT_KNOBS = {"ns_mgmt": True, "nn": 4, "oaes": 0x100}
#: the new namespace's size
NEW_NS_BYTES = 8 << 20
#: how long the scenario waits for a notice and the rescan it starts (host steps)
NOTICE_WAIT_STEPS = 2000
#: Identify Controller OAES bit 8: Namespace Attribute Notices
OAES_NS_ATTR = 1 << 8


def _ids(data: bytes | None) -> list[int]:
    return idf.parse_active_ns_list(data) if data else []


def _pick_format(common: bytes | None) -> tuple[int, int]:
    """(FLBAS index, LBA bytes) for the new namespace: 4 KiB without metadata if the
    controller offers it (Identify Namespace FFFFFFFFh), else its format 0."""
    if not common:
        return 0, 512
    ns = idf.IDENTIFY_NAMESPACE.parse(common)
    formats = list(ns.lbaf)[: ns.nlbaf + 1]
    for index, f in enumerate(formats):
        if f.ds == 12 and f.ms == 0:
            return index, 4096
    return 0, 1 << (formats[0].ds or 9)


def _wait_notice(drv: LinuxDriver, seen: int) -> Task:
    """Wait for a Namespace Attribute Changed notice after the first ``seen`` events, and
    for the rescan it starts; the notice, or None."""
    for _ in range(NOTICE_WAIT_STEPS):
        notices = [
            e
            for e in drv.async_events[seen:]
            if e.type == st.AER_TYPE_NOTICE and e.info == st.AER_INFO_NS_ATTR_CHANGED
        ]
        if notices and not drv.scans_pending:
            return notices[0]
        yield ACTION_NS
    return None


def _notice_check(drv: LinuxDriver, run: ScenarioRun, case: str, seen: int) -> Task:
    event = yield from _wait_notice(drv, seen)
    got = "no notice" if event is None else f"dw0 {event.dw0:#x}: {event.describe()}"
    ok = event is not None and event.log_page == 0x04
    yield from check(
        drv, run, case, "Asynchronous Event Request", "Notice, Namespace Attribute Changed, "
        "log page 04h", got, ok,
    )  # fmt: skip


def _notice_or_rescan(
    drv: LinuxDriver, run: ScenarioRun, case: str, seen: int, notices: bool
) -> Task:
    """The notice and the rescan it starts; or, on a controller whose OAES bit 8 is clear
    (no Namespace Attribute Notices), no notice and a rescan by hand (nvme ns-rescan)."""
    if notices:
        yield from _notice_check(drv, run, case, seen)
        return
    event = yield from _wait_notice(drv, seen)
    got = "no notice" if event is None else f"dw0 {event.dw0:#x}: {event.describe()}"
    yield from check(
        drv, run, case, "Asynchronous Event Request", "no notice (OAES bit 8 clear)", got,
        event is None,
    )  # fmt: skip
    yield from drv.say(
        "rescan", "OAES bit 8 is clear: the controller sends no Namespace Attribute Notice, so "
        "the host learns of the change only when asked to rescan (nvme ns-rescan).",
    )  # fmt: skip
    yield from drv.nvme_scan_ns()


def ns_mgmt(drv: LinuxDriver, run: ScenarioRun) -> Task:
    if not (yield from bring_up(drv, run, rows=False)):
        return
    api = drv.api
    c = yield from drv.identify(1, why="OACS bit 3 says whether namespaces can be managed")
    ctrl = idf.IDENTIFY_CONTROLLER.parse(c.data) if c.ok and c.data else None
    if ctrl is None or not ctrl.oacs & idf.OACS_NS_MGMT:
        yield from drv.say(
            "highlight", "OACS bit 3 is clear: this controller has no Namespace Management, so "
            "the create is refused.",
        )  # fmt: skip
        c = yield from drv.ns_create(8, why="a namespace on a controller that cannot make one")
        yield from expect(drv, run, "create without OACS bit 3", c, st.INVALID_OPCODE)
        return
    notices = bool(ctrl.oaes & OAES_NS_ATTR)
    yield from drv.say(
        "highlight", f"OACS bit 3: Namespace Management and Attachment. TNVMCAP is "
        f"{ctrl.tnvmcap} bytes, UNVMCAP {ctrl.unvmcap} of them not in any namespace.",
    )  # fmt: skip
    c = yield from drv.identify(
        0, nsid=0xFFFFFFFF, why="the capabilities every namespace shares: the LBA formats a "
        "new namespace may take",
    )  # fmt: skip
    yield from expect(drv, run, "Identify Namespace FFFFFFFFh", c, st.SUCCESS)
    flbas, lba = _pick_format(c.data)
    c = yield from drv.identify(0x10, why="the allocated namespaces, attached or not")
    yield from expect(drv, run, "allocated namespace list", c, st.SUCCESS)
    before = _ids(c.data)

    # -- create ----------------------------------------------------------------------------
    too_big = ctrl.unvmcap // lba + 1
    c = yield from drv.ns_create(
        too_big, flbas=flbas, why=f"{too_big} blocks: one more than UNVMCAP holds"
    )
    yield from expect(drv, run, "create beyond UNVMCAP", c, st.NS_INSUFFICIENT_CAPACITY)
    nsze = NEW_NS_BYTES // lba
    c = yield from drv.ns_create(
        nsze, flbas=flbas, why=f"{nsze} blocks of {lba} bytes ({NEW_NS_BYTES >> 20} MiB)"
    )
    yield from expect(drv, run, "create", c, st.SUCCESS)
    if not c.ok:
        return
    nsid = c.dw0
    yield from drv.say(
        "highlight", f"Namespace {nsid} exists (Dword 0 of the completion), but is attached to "
        "no controller: allocated, not active.",
    )  # fmt: skip
    c = yield from drv.identify(0x10, why=f"namespace {nsid} is allocated now")
    got = _ids(c.data)
    yield from check(drv, run, "allocated list after create", "Identify CNS 10h",
                     f"{sorted([*before, nsid])}", f"{got}", got == sorted([*before, nsid]))  # fmt: skip
    c = yield from drv.identify(2, why=f"but namespace {nsid} is not active yet")
    got = _ids(c.data)
    yield from check(drv, run, "active list after create", "Identify CNS 02h",
                     f"without {nsid}", f"{got}", c.ok and nsid not in got)  # fmt: skip
    c = yield from drv.identify(0x11, nsid=nsid, why="the allocated namespace's own data")
    got_nsze = idf.IDENTIFY_NAMESPACE.parse(c.data).nsze if c.ok and c.data else None
    yield from check(drv, run, "Identify CNS 11h", "Identify CNS 11h", f"NSZE {nsze}",
                     f"NSZE {got_nsze}", got_nsze == nsze)  # fmt: skip
    c = yield from drv.identify(0, nsid=nsid, why="Identify Namespace of an inactive NSID")
    zeros = bool(c.ok and c.data is not None and not any(c.data))
    yield from check(drv, run, "Identify CNS 00h, not attached", "Identify CNS 00h",
                     "all zeros", "all zeros" if zeros else "data", zeros)  # fmt: skip

    # -- attach ----------------------------------------------------------------------------
    c = yield from drv.ns_attach(nsid, (), why="a Controller List naming no controller")
    yield from expect(drv, run, "attach with an empty list", c, st.CONTROLLER_LIST_INVALID)
    seen = len(drv.async_events)
    c = yield from drv.ns_attach(nsid, (0,), why=f"attach namespace {nsid} to controller 0")
    yield from expect(drv, run, "attach", c, st.SUCCESS)
    yield from _notice_or_rescan(drv, run, "notice after attach", seen, notices)
    if notices:
        yield from check(drv, run, "Changed Namespace List", "Get Log Page 04h", f"[{nsid}]",
                         f"{drv.changed_ns_list}", drv.changed_ns_list == [nsid])  # fmt: skip
    info = drv.namespaces.get(nsid)
    got = f"NSZE {info.nsze}, {info.lba_size}-byte blocks" if info else "not found"
    yield from check(drv, run, "rescan found it", "nvme_scan_work",
                     f"NSZE {nsze}, {lba}-byte blocks", got,
                     info is not None and (info.nsze, info.lba_size) == (nsze, lba))  # fmt: skip
    c = yield from drv.identify(0x12, nsid=nsid, why=f"the controllers namespace {nsid} is on")
    got = idf.parse_controller_list(c.data) if c.ok and c.data else None
    yield from check(drv, run, "controller list of the NSID", "Identify CNS 12h", "[0]",
                     f"{got}", got == [0])  # fmt: skip

    # -- I/O -------------------------------------------------------------------------------
    size = 4 * lba
    data = bytes((i * 7 + nsid) & 0xFF for i in range(size))
    wbuf = api.alloc(size)
    api.mem_write(wbuf, data, f"write data, namespace {nsid}")
    yield ACTION_NS
    c = yield from drv.nvme_write(1, nsid, 0, 4, wbuf, size, why=f"4 blocks to namespace {nsid}")
    yield from expect(drv, run, "write the new namespace", c, st.SUCCESS)
    rbuf = api.alloc(size)
    c = yield from drv.nvme_read(1, nsid, 0, 4, rbuf, size, why="read them back")
    yield from expect(drv, run, "read the new namespace", c, st.SUCCESS)
    yield from compare(drv, run, "read back", rbuf, data)

    # -- detach ----------------------------------------------------------------------------
    seen = len(drv.async_events)
    c = yield from drv.ns_attach(nsid, (0,), detach=True, why=f"detach namespace {nsid}")
    yield from expect(drv, run, "detach", c, st.SUCCESS)
    yield from _notice_or_rescan(drv, run, "notice after detach", seen, notices)
    yield from check(drv, run, "rescan removed it", "nvme_scan_work", "gone",
                     "gone" if nsid not in drv.namespaces else "still there",
                     nsid not in drv.namespaces)  # fmt: skip
    c = yield from drv.nvme_write(1, nsid, 0, 1, wbuf, lba, why="a write to the detached NSID")
    yield from expect(drv, run, "write after detach", c, st.INVALID_FIELD)
    c = yield from drv.ns_attach(nsid, (0,), detach=True, why="detach it again")
    yield from expect(drv, run, "detach again", c, st.NS_NOT_ATTACHED)

    # -- delete ----------------------------------------------------------------------------
    c = yield from drv.ns_delete(nsid, why=f"delete namespace {nsid}: its capacity is free again")
    yield from expect(drv, run, "delete", c, st.SUCCESS)
    c = yield from drv.identify(0x10, why="the allocated namespaces after the delete")
    got = _ids(c.data)
    yield from check(drv, run, "allocated list after delete", "Identify CNS 10h", f"{before}",
                     f"{got}", got == before)  # fmt: skip
    c = yield from drv.ns_delete(nsid, why="delete it again")
    yield from expect(drv, run, "delete again", c, st.INVALID_FIELD)


NS_MGMT = Scenario(
    "ns-mgmt",
    "Namespace Management: create a namespace, attach it, the notice and the rescan, I/O, "
    "detach, delete.",
    "Runs on a controller with Namespace Management (-c ns_mgmt=1 nn=4 oaes=0x100, set "
    "unless you set them). The host reads TNVMCAP and UNVMCAP, creates an 8 MiB namespace "
    "(and one too big: Namespace Insufficient Capacity), sees it allocated but not active, "
    "attaches it (an empty Controller List first: Controller List Invalid); the controller "
    "posts the Namespace Attribute Changed notice, and Linux's rescan reads the Changed "
    "Namespace List (log 04h), the active list and the new namespace. A write and a read "
    "on it; the detach, a second notice and the rescan that removes it; a write to it now "
    "(Invalid Field) and a second detach (Namespace Not Attached); the delete, and a "
    "second delete (Invalid Field).",
    ns_mgmt,
    knobs=dict(NS_MGMT_KNOBS),
)
SCENARIOS[NS_MGMT.name] = NS_MGMT
