"""The queue scenarios of issue 10: many queues, wrap-around, arbitration, coalescing.

Each is a :class:`~nvmescope.host.scenarios.Scenario` registered in ``SCENARIOS`` and
checks what the host can see of the device's queues against what the specification
requires, one :class:`~nvmescope.host.scenarios.ResultRow` per check:

- ``multi-queue``: every I/O queue the controller grants (Get Features Number of
  Queues; 64 by default), several SQs sharing each CQ, commands on every SQ, and each
  CQE's SQ ID, CQ and SQ Head checked.
- ``queue-wrap``: a small queue pair wrapped several times (the phase tag of every
  CQE and the SQ Head it reports checked pass by pass), then a polled CQ smaller than
  its SQ: the device fills it and waits (CQ full) until the host frees entries.
- ``wrr``: weighted round robin with urgent priority class (``-c ams=1``, CC.AMS
  001b), Set Features Arbitration (burst and weights) and SQs of every QPRIO class:
  the order of the completions shows the urgent class first and the weights.
- ``coalescing``: Set Features Interrupt Coalescing (08h) and Interrupt Vector
  Configuration (09h): the interrupts of one vector coalesced by threshold and by
  time, another vector's not, counted and timed by the host's handlers.

Every I/O command is a Write or a Read of known data, so the scoreboard of the
protocol checks (``trace/scoreboard.py``) has every block to predict.
"""

from __future__ import annotations

from collections.abc import Sequence

from nvmescope.nvme import features as f
from nvmescope.nvme import registers as r

from .driver import ACTION_NS, Completion, IoCommand, LinuxDriver, Task, plural
from .scenarios import SUCCESS, Scenario, ScenarioRun, _io_ready, check, expect

#: the block every I/O command of these scenarios moves (one LBA if that is larger)
BLOCK = 4096
OPC_WRITE, OPC_READ = 0x01, 0x02


# -- shared steps ---------------------------------------------------------------------------------
def _pattern(tag: str, k: int, size: int) -> bytes:
    unit = f"{tag} block {k:06d} ".encode()
    return (unit * (size // len(unit) + 1))[:size]


def _block(drv: LinuxDriver, lba: int) -> tuple[int, int]:
    """(blocks per command, bytes per command) for namespace 1 of ``lba``-byte blocks."""
    ns = drv.namespaces[1]
    nlb = max(1, min(max(BLOCK, lba) // lba, ns.nsze))
    return nlb, nlb * lba


def _vector_for(drv: LinuxDriver, cqid: int) -> int:
    """The MSI-X vector of I/O CQ ``cqid``: its own while the table has one, else shared
    round the I/O vectors (vector 0 stays the admin queue's)."""
    if drv.msix_vectors <= 1:
        return 0
    return 1 + (cqid - 1) % (drv.msix_vectors - 1)


def _new_cq(drv: LinuxDriver, cqid: int, depth: int, *, ien: bool = True, why: str = "") -> Task:
    """Create I/O CQ ``cqid``, with its MSI-X vector programmed and handled when it has
    interrupts; returns the Create command's Completion."""
    vector = _vector_for(drv, cqid) if ien else 0
    if ien and vector:
        yield from drv.msix_program_vector(vector)
        yield from drv.request_irq(vector, f"I/O CQ {cqid}")
    return (yield from drv.create_io_cq(cqid, depth, vector, ien=ien, zero=True, why=why))


def _write_batch(
    drv: LinuxDriver, qids: Sequence[int], first: int, tag: str, lba: int, why: str
) -> Task:
    """One Write per entry of ``qids`` (block ``first + i`` to the i-th SQ), data a known
    pattern; returns ([Completion], {block: data}) without waiting."""
    api = drv.api
    nlb, size = _block(drv, lba)
    cmds: list[IoCommand] = []
    written: dict[int, bytes] = {}
    yield from drv.say(
        "fill_buffer", f"Put a known pattern in {plural(len(qids), 'buffer')} of {size} bytes, "
        f"blocks {first} to {first + len(qids) - 1}.",
    )  # fmt: skip
    for i, qid in enumerate(qids):
        k = first + i
        data = _pattern(tag, k, size)
        buf = api.alloc(size)
        api.mem_write(buf, data, f"write data block {k}")
        written[k] = data
        cmds.append(IoCommand.rw(OPC_WRITE, qid, 1, k * nlb, nlb, buf, size, why=f"block {k}"))
    yield ACTION_NS
    comps = yield from drv.submit_batch(cmds, why=why)
    return comps, written


def _read_batch(drv: LinuxDriver, qids: Sequence[int], first: int, lba: int, why: str) -> Task:
    """One Read per entry of ``qids`` (block ``first + i`` from the i-th SQ) into buffers
    of the driver's own (``wait_all`` reads them back); returns [Completion]."""
    nlb, size = _block(drv, lba)
    cmds = [
        IoCommand(
            qid, OPC_READ, nsid=1, cdw10=(first + i) * nlb, cdw12=nlb - 1, data_len=size,
            why=f"block {first + i}",
        )
        for i, qid in enumerate(qids)
    ]  # fmt: skip
    return (yield from drv.submit_batch(cmds, why=why))


def _granted(drv: LinuxDriver, run: ScenarioRun, sqs: int, cqs: int) -> Task:
    """Get Features Number of Queues: whether the controller allocated ``sqs`` I/O SQs and
    ``cqs`` CQs (a check row when it did not)."""
    c = yield from drv.get_features(
        f.FID_NUMBER_OF_QUEUES, why="how many I/O queues the controller allocated"
    )
    nsqa, ncqa = (c.dw0 & 0xFFFF) + 1, (c.dw0 >> 16) + 1
    if c.ok and nsqa >= sqs and ncqa >= cqs:
        return True
    got = f"{plural(nsqa, 'SQ')} and {plural(ncqa, 'CQ')}" if c.ok else c.describe()
    yield from check(
        drv, run, "I/O queues granted", "Get Features Number of Queues",
        f"at least {plural(sqs, 'SQ')} and {plural(cqs, 'CQ')} for the story", got, False,
    )  # fmt: skip
    return False


def _mqes(drv: LinuxDriver) -> int:
    """The most entries an I/O queue may have: CAP.MQES + 1."""
    return r.CAP.get(drv.cap, "mqes") + 1


def _release(drv: LinuxDriver, comps: list[Completion]) -> None:
    """Give back the data buffers of completed commands (the scenario's own)."""
    for c in comps:
        if c.done and not c.timed_out and c.buf is not None:
            drv.api.free(c.buf)


def _all_ok(drv: LinuxDriver, run: ScenarioRun, case: str, comps: list[Completion]) -> Task:
    good = sum(c.ok for c in comps)
    bad = next((c for c in comps if not c.ok), None)
    got = f"{good} succeeded" + (
        f"; cid {bad.cid} on SQ{bad.sqid}: {bad.describe()}" if bad else ""
    )
    yield from check(
        drv, run, case, f"{plural(len(comps), 'command')}", f"{len(comps)} succeeded", got,
        good == len(comps),
    )  # fmt: skip


def _data_ok(
    drv: LinuxDriver, run: ScenarioRun, case: str, reads: list[Completion], want: list[bytes]
) -> Task:
    same = sum(c.data == w for c, w in zip(reads, want, strict=True))
    yield from check(
        drv, run, case, "compare", f"{len(want)} blocks as written", f"{same} blocks as written",
        same == len(want),
    )  # fmt: skip


def sqhd_problems(comps: list[Completion], depth: int, tail: int) -> list[str]:
    """What is wrong with the SQ Head of CQEs of one SQ (``depth`` slots, tail ``tail``
    when they were sent), in the order the host consumed them: each must be past its own
    command's slot (the device fetched it) and no further than the tail, and the head
    never moves backwards."""
    out: list[str] = []
    last: int | None = None
    for c in sorted(comps, key=lambda c: (c.cqid or 0, c.cq_index or 0)):
        if c.cqe is None or c.sq_slot is None:
            continue
        sqhd, slot = c.cqe.sqhd, c.sq_slot
        if not (sqhd - slot - 1) % depth <= (tail - slot - 1) % depth:
            out.append(
                f"cid {c.cid} (slot {slot}): SQ Head {sqhd} not in {(slot + 1) % depth}..{tail}"
            )
        if last is not None and (sqhd - last) % depth > (tail - last) % depth:
            out.append(f"cid {c.cid}: SQ Head {sqhd} went back from {last}")
        last = sqhd
    return out


def phase_problems(comps: list[Completion], depth: int) -> list[str]:
    """What is wrong with the slot and phase tag of CQEs from one CQ of ``depth`` entries
    created fresh: the n-th CQE consumed is in slot n mod depth with phase tag 1 on the
    first pass, 0 on the second, and so on."""
    out: list[str] = []
    for c in comps:
        if c.cqe is None or c.cq_index is None:
            continue
        slot, phase = c.cq_index % depth, 1 ^ ((c.cq_index // depth) & 1)
        if (c.cq_slot, c.cqe.p) != (slot, phase):
            out.append(
                f"CQE {c.cq_index} (cid {c.cid}): slot {c.cq_slot} phase {c.cqe.p}, expected "
                f"slot {slot} phase {phase}"
            )
    return out


def _problems(
    drv: LinuxDriver, run: ScenarioRun, case: str, what: str, expected: str, found: list[str]
) -> Task:
    got = "as expected" if not found else f"{len(found)} wrong, first: {found[0]}"
    yield from check(drv, run, case, what, expected, got, not found)


# -- multi-queue ----------------------------------------------------------------------------------
MULTI_QUEUE_DEFAULTS = {"sqs": 65535, "per_cq": 4, "depth": 2, "qsize": 16}
MULTI_QUEUE_HELP = {
    "sqs": "I/O SQs wanted (at most what Number of Queues grants: 64 by default)",
    "per_cq": "SQs that share each CQ (SQs 1..per_cq complete into CQ1, the next into CQ2, ...)",
    "depth": "Writes (then Reads) on every SQ, all sent in one batch",
    "qsize": "entries of each SQ and CQ the scenario creates (at most CAP.MQES + 1)",
}
#: sqs and per_cq: a queue identifier is 16 bits (1..65535 I/O queues); depth: bounded so
#: a run's events stay in memory (sqs x depth x 2 commands); qsize: CAP.MQES + 1 <= 65536
#: commands in one batch at most (each with a 4 KiB buffer: 64 MiB of the host's 512 MiB);
#: depth gives way when sqs x depth would be more
BATCH_MAX = 16384
MULTI_QUEUE_RANGE = {
    "sqs": (1, 65535), "per_cq": (1, 65535), "depth": (1, 256), "qsize": (2, 65536),
}  # fmt: skip


def multi_queue(drv: LinuxDriver, run: ScenarioRun, sqs: int, per_cq: int, depth: int,
                qsize: int) -> Task:  # fmt: skip
    lba = yield from _io_ready(drv, run)
    if not lba:
        return
    c = yield from drv.get_features(
        f.FID_NUMBER_OF_QUEUES, why="how many I/O queues the controller allocated: Linux asked "
        "for one pair per CPU (one here), the controller may have granted more",
    )  # fmt: skip
    yield from expect(drv, run, "Get Features Number of Queues", c, SUCCESS)
    if not c.ok:
        return
    nsqa, ncqa = (c.dw0 & 0xFFFF) + 1, (c.dw0 >> 16) + 1
    n = min(sqs, nsqa)
    per = max(1, per_cq, -(-n // ncqa))
    ncq = -(-n // per)
    size = max(2, min(qsize, _mqes(drv)))
    want = max(1, min(depth, size - 1, BATCH_MAX // n))
    yield from drv.say(
        "multi_queue", f"The controller allocated {nsqa} I/O SQs and {ncqa} CQs (NSQA {nsqa - 1}, "
        f"NCQA {ncqa - 1}, 0's based). Use {plural(n, 'SQ')} of {size} entries and "
        f"{plural(ncq, 'CQ')}: SQ q completes into CQ (q - 1) / {per} + 1, so {per} SQs share "
        f"each CQ (SQ1 and CQ1 are the bring-up's). Then {plural(want, 'Write')} on every SQ in "
        "one batch (one doorbell per SQ), the same blocks read back, and every CQE's SQ ID, "
        "CQ and SQ Head checked.",
    )  # fmt: skip
    cq_of = {q: (q - 1) // per + 1 for q in range(1, n + 1)}
    created: list[Completion] = []
    for cqid in range(2, ncq + 1):
        created.append((yield from _new_cq(drv, cqid, size)))
    for qid in range(2, n + 1):
        created.append((yield from drv.create_io_sq(qid, size, cq_of[qid])))
    yield from _all_ok(drv, run, f"create {ncq - 1} CQs and {n - 1} SQs", created)
    yield from check(
        drv, run, "I/O SQs in use", "Number of Queues", f"{min(sqs, nsqa)} SQs",
        f"{len([q for q in drv.sqs if q])} SQs", len([q for q in drv.sqs if q]) == min(sqs, nsqa),
    )  # fmt: skip
    qids = [q for _ in range(want) for q in range(1, n + 1)]
    writes, written = yield from _write_batch(drv, qids, 0, "multi-queue", lba, "a Write per SQ")
    yield from drv.wait_all(writes)
    _release(drv, writes)
    yield from _all_ok(drv, run, "writes on every SQ", writes)
    tails = {q: drv.sqs[q].tail for q in range(1, n + 1)}
    reads = yield from _read_batch(drv, qids, 0, lba, "read every block back, from the same SQs")
    yield from drv.wait_all(reads)
    yield from _all_ok(drv, run, "reads on every SQ", reads)
    yield from _data_ok(drv, run, "data", reads, [written[k] for k in range(len(qids))])
    comps = writes + reads
    served = sorted({c.cqe.sqid for c in comps if c.cqe is not None})
    yield from check(
        drv, run, "every SQ served", "CQE SQ ID", f"SQ1..SQ{n}",
        f"{len(served)} SQs" if served != list(range(1, n + 1)) else f"SQ1..SQ{n}",
        served == list(range(1, n + 1)),
    )  # fmt: skip
    wrong_sq = [f"cid {c.cid}: SQ ID {c.cqe.sqid}, sent to SQ{c.sqid}" for c in comps
                if c.cqe is not None and c.cqe.sqid != c.sqid]  # fmt: skip
    yield from _problems(drv, run, "CQE SQ ID", "every CQE", "the SQ the command went to", wrong_sq)
    wrong_cq = [f"cid {c.cid} of SQ{c.sqid} in CQ{c.cqid}, not CQ{cq_of[c.sqid]}" for c in comps
                if c.cqe is not None and c.cqid != cq_of[c.sqid]]  # fmt: skip
    yield from _problems(drv, run, "CQE in its SQ's CQ", "every CQE", "CQ (SQ ID - 1) / "
                         f"{per} + 1", wrong_cq)  # fmt: skip
    shared = {cq: sorted({c.sqid for c in comps if c.cqid == cq}) for cq in range(1, ncq + 1)}
    unshared = [f"CQ{cq} held SQs {got}" for cq, got in shared.items()
                if got != [q for q in range(1, n + 1) if cq_of[q] == cq]]  # fmt: skip
    yield from _problems(drv, run, "SQs sharing a CQ", f"{ncq} CQs", f"{per} SQs' CQEs in each",
                         unshared)  # fmt: skip
    heads: list[str] = []
    for q in range(1, n + 1):
        sq = drv.sqs[q]
        heads += [f"SQ{q} {p}" for p in sqhd_problems([c for c in reads if c.sqid == q], sq.depth,
                                                       sq.tail)]  # fmt: skip
        heads += [f"SQ{q} {p}" for p in sqhd_problems([c for c in writes if c.sqid == q], sq.depth,
                                                       tails[q])]  # fmt: skip
    yield from _problems(drv, run, "SQ Head in every CQE", "every CQE",
                         "past its command's slot, up to the tail, never backwards", heads)  # fmt: skip


# -- queue-wrap -----------------------------------------------------------------------------------
QUEUE_WRAP_DEFAULTS = {"qsize": 4, "laps": 3, "poll_us": 100}
QUEUE_WRAP_HELP = {
    "qsize": "entries of the small queue pair (it holds qsize - 1); the polled CQ has at most 16",
    "laps": "times the Writes alone go round the queue pair (the Reads go round as often again)",
    "poll_us": "how often the host polls the CQ without interrupts, in microseconds",
}
#: the polled CQ of the back-pressure part has qsize entries, at most this many, so that
#: the device fills it between two polls
FULL_CQ_MAX = 16
#: polls in a row that find nothing before the host stops waiting
EMPTY_POLLS = 1000
#: qsize: CAP.MQES + 1 <= 65536; laps: bounded so a run stays small; poll_us: up to 1 s
QUEUE_WRAP_RANGE = {"qsize": (2, 65536), "laps": (1, 64), "poll_us": (1, 1_000_000)}


def queue_wrap(drv: LinuxDriver, run: ScenarioRun, qsize: int, laps: int, poll_us: int) -> Task:
    lba = yield from _io_ready(drv, run)
    if not lba or not (yield from _granted(drv, run, 3, 3)):
        return
    size = max(2, min(qsize, _mqes(drv)))
    total = laps * size
    # the Writes take blocks 0.. of namespace 1, then the full-CQ part as many again as its
    # SQ holds (2 x FULL_CQ_MAX - 1 at most); all in one batch, each with its own buffer
    nlb, _ = _block(drv, lba)
    blocks = drv.namespaces[1].nsze // nlb
    need = total + 2 * FULL_CQ_MAX - 1
    if total > BATCH_MAX or need > blocks:
        if total > BATCH_MAX:
            want = f"at most {BATCH_MAX} Writes in one batch (a 4 KiB buffer each)"
            got = f"{total} ({laps} laps x {size}): fewer -p laps or a smaller -p qsize"
        else:
            want = f"{need} blocks of namespace 1 ({total} Writes, then the full CQ's)"
            got = f"{blocks} blocks: fewer -p laps, a smaller -p qsize or a larger namespace"
        yield from check(drv, run, "blocks for the laps", "queue-wrap", want, got, False)
        return
    yield from drv.say(
        "queue_wrap", f"A {size}-entry queue pair (SQ2, CQ2 on vector 2): {total} Writes in one "
        f"batch go round it {plural(laps, 'time')} (the SQ holds {size - 1} commands, so the "
        "batch waits for room), then as many Reads. The CQ's phase tag flips on every pass: "
        "each CQE's slot and phase tag are checked, and the SQ Head it reports.",
    )  # fmt: skip
    made = [(yield from _new_cq(drv, 2, size)), (yield from drv.create_io_sq(2, size, 2))]
    yield from _all_ok(drv, run, "create the small queue pair", made)
    if not all(c.ok for c in made):
        return
    writes, written = yield from _write_batch(drv, [2] * total, 0, "queue-wrap", lba,
                                              f"{total} Writes into a {size}-entry SQ")  # fmt: skip
    yield from drv.wait_all(writes)
    _release(drv, writes)
    yield from _all_ok(drv, run, "writes round the queue", writes)
    reads = yield from _read_batch(drv, [2] * total, 0, lba, "read every block back")
    yield from drv.wait_all(reads)
    yield from _all_ok(drv, run, "reads round the queue", reads)
    yield from _data_ok(drv, run, "data", reads, [written[k] for k in range(total)])
    comps = writes + reads
    passes = -(-len(comps) // size)
    seen = [c.cqe.p for c in sorted(comps, key=lambda c: c.cq_index or 0) if c.cqe is not None]
    flips = sum(a != b for a, b in zip(seen, seen[1:], strict=False))
    yield from check(
        drv, run, "phase flips", f"CQ2, {len(comps)} CQEs", f"{passes - 1} flips ({passes} passes)",
        f"{flips} flips", flips == passes - 1,
    )  # fmt: skip
    yield from _problems(drv, run, "CQE slot and phase tag", f"{len(comps)} CQEs of CQ2",
                         "slot n mod size, phase 1 on odd passes, 0 on even", phase_problems(comps, size))  # fmt: skip
    heads = _sqhd_in_order(comps, size)
    yield from _problems(drv, run, "SQ Head in every CQE", f"{len(comps)} CQEs of SQ2",
                         "past its command's slot, never backwards", heads)  # fmt: skip
    yield from _cq_full(drv, run, lba, size, poll_us, total)


def _sqhd_in_order(comps: list[Completion], depth: int) -> list[str]:
    """SQ Head checks for commands sent over many laps of one SQ: each CQE's head is past
    its command's slot and within the commands then outstanding (one SQ's depth - 1)."""
    out: list[str] = []
    for c in comps:
        if c.cqe is None or c.sq_slot is None:
            continue
        ahead = (c.cqe.sqhd - c.sq_slot - 1) % depth
        if ahead > depth - 2:
            out.append(f"cid {c.cid} (slot {c.sq_slot}): SQ Head {c.cqe.sqhd}")
    return out


def _cq_full(drv: LinuxDriver, run: ScenarioRun, lba: int, size: int, poll_us: int,
             first: int) -> Task:  # fmt: skip
    """A polled CQ smaller than its SQ: the device fills it and waits for the host. The CQ
    has ``size`` entries, at most :data:`FULL_CQ_MAX`, so the device fills it between two
    polls."""
    size = min(size, FULL_CQ_MAX, _mqes(drv) // 2)
    if size < 2:
        yield from drv.say(
            "cq_full_skipped", f"CAP.MQES + 1 = {_mqes(drv)}: no SQ twice the size of a CQ of "
            "two entries, so no back-pressure to show.",
        )  # fmt: skip
        return
    sq_size = 2 * size
    count = sq_size - 1
    yield from drv.say(
        "cq_full", f"Back-pressure: CQ3 of {size} entries without interrupts (IEN 0), fed by SQ3 "
        f"of {sq_size}. {count} Writes in one batch; the host polls CQ3 every {poll_us} us. A CQ "
        f"holds at most {size - 1} CQEs (one slot is always left empty, or full and empty would "
        "look alike), so the device fills it and waits until the host's CQ head doorbell frees "
        "entries: a poll finds the CQ full, never fuller.",
    )  # fmt: skip
    made = [(yield from _new_cq(drv, 3, size, ien=False)),
            (yield from drv.create_io_sq(3, sq_size, 3))]  # fmt: skip
    yield from _all_ok(drv, run, "create the polled CQ and its SQ", made)
    if not all(c.ok for c in made):
        return
    comps, written = yield from _write_batch(drv, [3] * count, first, "queue-wrap", lba,
                                             "more Writes than the CQ holds")  # fmt: skip
    found: list[int] = []
    yield from _poll_until_done(drv, 3, comps, poll_us, found)
    yield from drv.wait_all([c for c in comps if c.done])
    _release(drv, comps)
    yield from _all_ok(drv, run, "writes through the full CQ", comps)
    room = size - 1
    if found and max(found) > room:
        got = f"a poll found {max(found)} new CQEs, more than the CQ holds: CQEs per poll {found}"
    elif room not in found:
        got = (
            f"no poll found CQ3 full (CQEs per poll {found}): the device kept up with the "
            "polls (poll less often: -p poll_us)"
        )
    else:
        got = f"CQEs per poll {found}"
    yield from check(
        drv, run, "CQ full, device waits", f"polls of CQ3 every {poll_us} us",
        f"a poll finds CQ3 full ({plural(room, 'CQE')}), none finds more", got,
        bool(found) and max(found) == room,
    )  # fmt: skip
    yield from _problems(drv, run, "CQ3 slot and phase tag", f"{count} CQEs of CQ3",
                         "slot n mod size, phase 1 on odd passes, 0 on even", phase_problems(comps, size))  # fmt: skip
    reads = yield from _read_batch(drv, [3] * count, first, lba, "read them back")
    yield from _poll_until_done(drv, 3, reads, poll_us, [])
    yield from drv.wait_all([c for c in reads if c.done])
    yield from _data_ok(drv, run, "data through the full CQ", reads,
                        [written[first + k] for k in range(count)])  # fmt: skip


def _poll_until_done(
    drv: LinuxDriver, cqid: int, comps: list[Completion], poll_us: int, found: list[int]
) -> Task:
    """Poll CQ ``cqid`` every ``poll_us`` until ``comps`` are done (each poll's count of
    new CQEs appended to ``found``), giving up after :data:`EMPTY_POLLS` polls in a row
    that found nothing: a device that loses completions does not keep the host polling
    for ever."""
    empty = 0
    while any(not c.done for c in comps) and empty < EMPTY_POLLS:
        yield poll_us * 1000
        n = yield from drv.poll_cq(cqid)
        empty = 0 if n else empty + 1
        if n:
            found.append(n)
    if any(not c.done for c in comps):
        left = sum(not c.done for c in comps)
        yield from drv.say(
            "poll_gave_up", f"{EMPTY_POLLS} polls of CQ{cqid} in a row found nothing and "
            f"{plural(left, 'command')} still have no completion: stop polling.",
        )  # fmt: skip


# -- wrr ------------------------------------------------------------------------------------------
WRR_DEFAULTS = {"count": 12, "burst": 1, "high": 4, "medium": 2, "low": 1}
WRR_HELP = {
    "count": "Writes waiting in each of the five SQs (SQ2 urgent, SQ3 and SQ4 high, SQ5 "
    "medium, SQ6 low)",
    "burst": "Arbitration Burst (AB): 2^burst commands per arbitration, 7 no limit",
    "high": "commands of the high priority SQs per round (HPW + 1)",
    "medium": "commands of the medium priority SQ per round (MPW + 1)",
    "low": "commands of the low priority SQ per round (LPW + 1)",
}
#: count: an SQ of count + 1 entries, and bounded so a run stays small; burst: AB is 3 bits;
#: the weights are 8-bit 0's based fields: 1..256
WRR_RANGE = {"count": (1, 1000), "burst": (0, 7), "high": (1, 256), "medium": (1, 256),
             "low": (1, 256)}  # fmt: skip
#: the SQs of the story and their QPRIO
WRR_SQS = {2: 0, 3: 1, 4: 1, 5: 2, 6: 3}


def wrr(drv: LinuxDriver, run: ScenarioRun, count: int, burst: int, high: int, medium: int,
        low: int) -> Task:  # fmt: skip
    drv.cc_ams = 0b001
    lba = yield from _io_ready(drv, run)
    if not lba or not (yield from _granted(drv, run, max(WRR_SQS), 2)):
        return
    offered = bool(r.CAP.get(drv.cap, "ams") & 0b01)
    selected = r.CC.get(drv.ctrl_config, "ams")
    weighted = selected == 0b001
    yield from check(
        drv, run, "CC.AMS", "CC at bring-up",
        "001b (WRR)" if offered else "000b (round robin: CAP.AMS offers no WRR)",
        f"{selected:03b}b", selected == (0b001 if offered else 0b000),
    )  # fmt: skip
    value = (burst & 7) | ((low - 1) << 8) | ((medium - 1) << 16) | ((high - 1) << 24)
    c = yield from drv.set_features(
        f.FID_ARBITRATION, value, why=f"Arbitration: AB {burst} ("
        + ("no burst limit" if burst == 7 else f"{1 << burst} commands per arbitration")
        + f"), HPW {high - 1}, MPW {medium - 1}, LPW {low - 1} ({high}, {medium} and {low} "
        "commands per round, 0's based)",
    )  # fmt: skip
    yield from expect(drv, run, "Set Features Arbitration", c, SUCCESS)
    c = yield from drv.get_features(f.FID_ARBITRATION, why="read the arbitration back")
    yield from check(drv, run, "Get Features Arbitration", "Get Features 01h", f"{value:#010x}",
                     f"{c.dw0:#010x}", c.ok and c.dw0 == value)  # fmt: skip
    if count >= _mqes(drv):
        yield from drv.say(
            "wrr_count", f"count={count} does not fit an SQ of CAP.MQES + 1 = {_mqes(drv)} "
            f"entries: use {_mqes(drv) - 1}.",
        )  # fmt: skip
        count = _mqes(drv) - 1
    depth = count + 1
    total = count * len(WRR_SQS)
    made = [(yield from _new_cq(drv, 2, min(total + 1, _mqes(drv))))]
    for qid, qprio in WRR_SQS.items():
        made.append((yield from drv.create_io_sq(qid, depth, 2, qprio=qprio)))
    yield from _all_ok(drv, run, "create CQ2 and SQs of every class", made)
    if not all(c.ok for c in made):
        return
    if weighted:
        story = (
            "SQ2 is urgent (strict priority 2: served before every weighted SQ), SQ3 and SQ4 "
            f"high, SQ5 medium, SQ6 low: each round of the weighted class gives {high} commands "
            f"to the high SQs, {medium} to the medium one and {low} to the low one. "
        )
    else:
        story = (
            "The controller does round robin only: QPRIO means nothing, every SQ gets its turn "
            f"of up to {'any number of' if burst == 7 else 1 << burst} commands. "
        )
    yield from drv.say(
        "wrr", f"{story}{plural(count, 'Write')} wait in each SQ, all written before any "
        "doorbell; SQ2's doorbell is rung first. All complete into CQ2, so the order of the "
        "CQEs there is the order the device fetched them (one command at a time: the "
        "scenario's parallel_units=1).",
    )  # fmt: skip
    qids = [q for q in WRR_SQS for _ in range(count)]
    comps, _ = yield from _write_batch(drv, qids, 0, "wrr", lba, "every SQ full, then doorbells")
    yield from drv.wait_all(comps)
    _release(drv, comps)
    yield from _all_ok(drv, run, "writes of every class", comps)
    order = [c.sqid for c in sorted(comps, key=lambda c: c.cq_index or 0)]
    yield from drv.say("wrr_order", "CQ2's CQEs came from SQs " + " ".join(map(str, order)) + ".")
    limit = None if burst == 7 else 1 << burst
    if weighted:
        yield from _wrr_checks(drv, run, order, count, limit, high, medium, low)
    else:
        yield from _rr_checks(drv, run, order, count, limit)


def _runs(order: list[int]) -> list[tuple[int, int]]:
    """(SQ ID, length) of each run of consecutive commands from one SQ."""
    out: list[tuple[int, int]] = []
    for q in order:
        if out and out[-1][0] == q:
            out[-1] = (q, out[-1][1] + 1)
        else:
            out.append((q, 1))
    return out


def wrr_round_problems(
    order: list[int], count: int, weights: dict[int, int]
) -> tuple[int, list[str]]:
    """The weighted class's commands in ``order`` (SQ IDs, ``count`` from each SQ) cut
    into arbitration rounds: each round gives every priority level (1 high, 2 medium,
    3 low) its weight in commands, or what it has left when that is less, in any order
    within the round. Returns the rounds that matched and what was wrong (at most one
    line: the first round that did not)."""
    level = {q: p for q, p in WRR_SQS.items() if p}
    left = {p: count * sum(1 for q in level if level[q] == p) for p in weights}
    seq = [level[q] for q in order if q in level]
    rounds, i = 0, 0
    while i < len(seq):
        want = {p: min(weights[p], left[p]) for p in weights}
        size = sum(want.values())
        got = {p: seq[i : i + size].count(p) for p in weights}
        if got != want or size == 0:
            return rounds, [
                f"round {rounds + 1}: high {got[1]}, medium {got[2]}, low {got[3]} (expected "
                f"{want[1]}, {want[2]}, {want[3]})"
            ]
        for p in weights:
            left[p] -= got[p]
        i += size
        rounds += 1
    return rounds, []


def _wrr_checks(drv: LinuxDriver, run: ScenarioRun, order: list[int], count: int,
                limit: int | None, high: int, medium: int, low: int) -> Task:  # fmt: skip
    urgent = [i for i, q in enumerate(order) if q == 2]
    first_weighted = next((i for i, q in enumerate(order) if q != 2), len(order))
    yield from check(
        drv, run, "urgent class first", "CQE order", f"all {count} of SQ2 before any weighted SQ",
        f"last urgent at {urgent[-1] if urgent else None}, first weighted at {first_weighted}",
        bool(urgent) and urgent[-1] < first_weighted,
    )  # fmt: skip
    rounds, bad = wrr_round_problems(order, count, {1: high, 2: medium, 3: low})
    high_runs = [n for q, n in _runs([q for q in order if q in (3, 4)])]
    too_long = [n for n in high_runs if limit is not None and n > limit]
    doorbell = [q for q in WRR_SQS for _ in range(count)]
    same = next(
        (i for i, (a, b) in enumerate(zip(order, doorbell, strict=False)) if a != b), len(order)
    )
    if (bad or too_long) and same > 2 * count:
        # the urgent SQ and more fetched whole, in doorbell order: they never waited to be
        # chosen (all of them, or the first ``same`` while the device had units free)
        whole = order == doorbell
        fetched = (
            "each SQ was fetched whole as its doorbell rang"
            if whole
            else f"the first {same} commands were fetched SQ after SQ as the doorbells rang"
        )
        room = "every command" if whole else f"{same} commands"
        yield from check(
            drv, run, "commands waiting for arbitration", "CQE order",
            "the SQs' commands interleaved by the arbiter",
            f"{fetched}: either the device had room to run {room} at once and never had to "
            "choose (this scenario's parallel_units=1 overridden by a profile or -c), or it "
            "does not arbitrate",
            False,
        )  # fmt: skip
        return
    yield from check(
        drv, run, "weights per round", f"{plural(rounds, 'round')} of the weighted class",
        f"high {high}, medium {medium}, low {low} (or what is left) in each",
        bad[0] if bad else "as expected", not bad,
    )  # fmt: skip
    yield from check(
        drv, run, "arbitration burst", "runs of SQ3 / SQ4 among the high SQs",
        f"at most {limit} commands from one SQ per arbitration" if limit else "no limit",
        f"runs {high_runs[:8]}{'...' if len(high_runs) > 8 else ''}", not too_long,
    )  # fmt: skip


def _rr_checks(drv: LinuxDriver, run: ScenarioRun, order: list[int], count: int,
               limit: int | None) -> Task:  # fmt: skip
    served = dict.fromkeys(WRR_SQS, 0)
    worst = 0
    for q in order:
        served[q] += 1
        if all(n < count for n in served.values()):
            worst = max(worst, max(served.values()) - min(served.values()))
    bound = limit if limit is not None else count
    yield from check(
        drv, run, "round robin", "CQE order", f"no SQ more than {bound} ahead of another",
        f"at most {worst} ahead", worst <= bound,
    )  # fmt: skip


# -- coalescing -----------------------------------------------------------------------------------
COALESCING_DEFAULTS = {"count": 8, "thr": 4, "time": 2}
COALESCING_HELP = {
    "count": "Writes in each workload",
    "thr": "aggregation threshold: completions per interrupt (THR + 1)",
    "time": "aggregation time, in 100 us units (TIME)",
}
#: count: bounded so a run stays small; thr: THR is 8 bits, 0's based; time: TIME is 8 bits
COALESCING_RANGE = {"count": (1, 1000), "thr": (1, 256), "time": (1, 255)}
#: Feature 08h's TIME unit
TIME_UNIT_NS = 100_000


def coalescing(drv: LinuxDriver, run: ScenarioRun, count: int, thr: int, time: int) -> Task:
    lba = yield from _io_ready(drv, run)
    if not lba or not (yield from _granted(drv, run, 2, 2)):
        return
    if drv.msix_vectors < 3:
        yield from check(
            drv, run, "MSI-X vectors", "MSI-X Message Control", "3 (admin, CQ1, CQ2)",
            f"{drv.msix_vectors}: CQ1 and CQ2 would share a vector", False,
        )  # fmt: skip
        return
    size = min(count + 2, _mqes(drv))
    made = [(yield from _new_cq(drv, 2, size)), (yield from drv.create_io_sq(2, size, 2))]
    yield from _all_ok(drv, run, "create SQ2 and CQ2 (vector 2)", made)
    if not all(c.ok for c in made):
        return
    room = min(drv.sqs[1].depth, drv.cqs[1].depth, size) - 1
    if count > room:
        yield from drv.say(
            "coalescing_count", f"count={count}: the queues hold {room} commands at once, and "
            "the story needs them all outstanding together: use that many.",
        )  # fmt: skip
        count = room
    v1, v2 = drv.cqs[1].vector, drv.cqs[2].vector
    block = 0
    c = yield from drv.get_features(f.FID_INTERRUPT_COALESCING, why="coalescing as the controller "
                                    "starts: off")  # fmt: skip
    yield from check(drv, run, "coalescing off at first", "Get Features 08h", "0", f"{c.dw0:#x}",
                     c.ok and c.dw0 & 0xFFFF == 0)  # fmt: skip
    yield from drv.say(
        "coalescing", f"Without coalescing: {plural(count, 'Write')} on SQ1, whose CQ1 "
        f"interrupts on vector {v1}: one interrupt per completion.",
    )  # fmt: skip
    irqs, _ = yield from _irqs_of(drv, [1] * count, block, lba, "no coalescing")
    block += count
    yield from check(drv, run, "one interrupt per completion", f"vector {v1}",
                     f"{count} interrupts", f"{irqs[v1]} interrupts", irqs[v1] == count)  # fmt: skip
    value = (thr - 1) | (time << 8)
    c = yield from drv.set_features(
        f.FID_INTERRUPT_COALESCING, value, why=f"Interrupt Coalescing: THR {thr - 1} (an "
        f"interrupt per {plural(thr, 'completion')}), TIME {time} (or {time * 100} us after the "
        "first one held)",
    )  # fmt: skip
    yield from expect(drv, run, "Set Features Interrupt Coalescing", c, SUCCESS)
    c = yield from drv.get_features(f.FID_INTERRUPT_COALESCING, why="read it back")
    yield from check(drv, run, "Get Features 08h", "Get Features 08h", f"{value:#x}",
                     f"{c.dw0:#x}", c.ok and c.dw0 == value)  # fmt: skip
    c = yield from drv.set_features(
        f.FID_INTERRUPT_VECTOR_CONFIG, v2 | (1 << 16), why=f"Interrupt Vector Configuration: "
        f"Coalescing Disable (CD) for vector {v2}, CQ2's",
    )  # fmt: skip
    yield from expect(drv, run, "Set Features Interrupt Vector Configuration", c, SUCCESS)
    c = yield from drv.get_features(f.FID_INTERRUPT_VECTOR_CONFIG, cdw11=v2,
                                    why=f"read vector {v2}'s configuration back")  # fmt: skip
    yield from check(drv, run, "Get Features 09h", f"vector {v2}", "CD 1",
                     f"CD {(c.dw0 >> 16) & 1}, IV {c.dw0 & 0xFFFF}",
                     c.ok and c.dw0 == v2 | (1 << 16))  # fmt: skip
    coalesced = -(-count // thr) if thr > 1 else count
    yield from drv.say(
        "coalescing", f"With coalescing: {plural(count, 'Write')} on SQ1 (vector {v1}) and as "
        f"many on SQ2 (vector {v2}, coalescing disabled), in one batch. Vector {v1} should "
        f"interrupt {plural(coalesced, 'time')}: every {thr} completions, and for the rest when "
        f"the {time * 100} us run out; vector {v2} once per completion.",
    )  # fmt: skip
    irqs, _ = yield from _irqs_of(drv, [1] * count + [2] * count, block, lba, "coalescing on")
    block += 2 * count
    yield from check(drv, run, "coalesced interrupts", f"vector {v1}, {count} CQEs",
                     f"{coalesced} interrupts", f"{irqs[v1]} interrupts",
                     irqs[v1] == coalesced)  # fmt: skip
    yield from check(drv, run, "coalescing disabled on a vector", f"vector {v2}, {count} CQEs",
                     f"{count} interrupts", f"{irqs[v2]} interrupts", irqs[v2] == count)  # fmt: skip
    if thr > 1:
        few = min(thr - 1, count)
        yield from drv.say(
            "coalescing_time", f"{plural(few, 'Write')} on SQ1: fewer than the threshold, so "
            f"vector {v1}'s interrupt waits for the aggregation time, {time * 100} us after "
            "the first completion held.",
        )  # fmt: skip
        start = drv.api.now
        irqs, times = yield from _irqs_of(drv, [1] * few, block, lba, "below the threshold")
        late = [t - start for t in times[v1]]
        low, high = time * TIME_UNIT_NS, time * TIME_UNIT_NS + TIME_UNIT_NS
        yield from check(
            drv, run, "aggregation time", f"vector {v1}, {few} CQE{'s' if few > 1 else ''}",
            f"1 interrupt {time * 100} us to {time * 100 + 100} us after the batch began",
            f"{len(late)} interrupt{'s' if len(late) != 1 else ''}"
            + (f", {late[0] / 1000:.1f} us after" if late else ""),
            irqs[v1] == 1 and len(late) == 1 and low <= late[0] < high,
        )  # fmt: skip


def _irqs_of(drv: LinuxDriver, qids: list[int], first: int, lba: int, why: str) -> Task:
    """Send one Write per entry of ``qids`` in a batch and wait for all of them (and for a
    last interrupt the aggregation time still holds); the interrupt messages that arrived
    meanwhile per vector (the host's interrupt controller counts them, as
    /proc/interrupts does), and the times its handlers took them."""
    irq = drv.api.irq
    vectors = sorted({cq.vector for cq in drv.cqs.values()})
    before = {v: irq.count(v) for v in vectors}
    mark = drv.irqs_taken
    comps, _ = yield from _write_batch(drv, qids, first, "coalescing", lba, why)
    yield from drv.wait_all(comps)
    _release(drv, comps)
    yield from drv.quiesce()
    counts = {v: irq.count(v) - before[v] for v in vectors}
    times: dict[int, list[int]] = {v: [] for v in vectors}
    for vector, t in drv.irqs_since(mark):
        times.setdefault(vector, []).append(t)
    return counts, times


QUEUE_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "multi-queue",
        "Every I/O queue the controller grants, several SQs sharing each CQ, I/O on all of them.",
        "After the bring-up, Get Features Number of Queues says how many I/O queues the "
        "controller allocated (64 by default, -c max_io_queues). The host creates them all "
        "(parameter sqs: fewer), per_cq SQs completing into each CQ, each CQ on an MSI-X vector "
        "of its own, sends depth Writes to every SQ in one batch (one tail doorbell per SQ), "
        "reads them back, and checks every CQE: the SQ ID, the CQ it arrived in, the SQ Head "
        "(past its command's slot, never backwards), and the data.",
        multi_queue,
        dict(MULTI_QUEUE_DEFAULTS),
        dict(MULTI_QUEUE_HELP),
        dict(MULTI_QUEUE_RANGE),
    ),
    Scenario(
        "queue-wrap",
        "Small queues wrapped several times: the phase tag flips; a full CQ makes the device wait.",
        "A queue pair of qsize entries (default 4) takes laps x qsize Writes and as many Reads "
        "in batches: the SQ and CQ go round, the CQ's phase tag flips on every pass, and every "
        "CQE's slot, phase tag and SQ Head are checked. Then a polled CQ (no interrupts) of "
        "qsize entries behind an SQ twice its size: the device fills the CQ (qsize - 1 "
        "entries, one always empty), waits (cq_full) until the host, polling every poll_us, "
        "frees the entries with its CQ head doorbell, then goes on.",
        queue_wrap,
        dict(QUEUE_WRAP_DEFAULTS),
        dict(QUEUE_WRAP_HELP),
        dict(QUEUE_WRAP_RANGE),
    ),
    Scenario(
        "wrr",
        "Weighted round robin with urgent class: Set Features Arbitration, SQs of every QPRIO.",
        "Runs on a controller whose CAP.AMS offers weighted round robin (-c ams=1) and one "
        "parallel unit (-c parallel_units=1, so completions come back in fetch order), which "
        "the scenario sets unless you set them. The host selects WRR in CC.AMS at bring-up "
        "(Linux never does), sets the Arbitration feature (burst, high, medium, low: AB and "
        "the weights), creates SQ2 urgent, SQ3 and SQ4 high, SQ5 medium and SQ6 low, fills "
        "them all before any doorbell and checks the order of the completions: every urgent "
        "command first, then rounds of high, medium and low commands by their weights, at "
        "most 2^burst commands from one SQ at a time. With -c ams=0 it is round robin, and the "
        "check is that every SQ gets its turn.",
        wrr,
        dict(WRR_DEFAULTS),
        dict(WRR_HELP),
        dict(WRR_RANGE),
        knobs={"ams": 1, "parallel_units": 1},
    ),
    Scenario(
        "coalescing",
        "Interrupt coalescing: Features 08h and 09h; interrupts counted and timed by the host.",
        "Two queue pairs on vectors 1 and 2. Without coalescing, count Writes on SQ1 give one "
        "interrupt each. Then Set Features Interrupt Coalescing (THR thr - 1, TIME time x "
        "100 us) and Interrupt Vector Configuration with Coalescing Disable for vector 2: "
        "count Writes on each queue at once give vector 1 an interrupt per thr completions "
        "(the rest when the time runs out) and vector 2 one per completion; fewer Writes than "
        "the threshold give one interrupt, time x 100 us after the first completion.",
        coalescing,
        dict(COALESCING_DEFAULTS),
        dict(COALESCING_HELP),
        dict(COALESCING_RANGE),
    ),
)

__all__ = ["QUEUE_SCENARIOS", "phase_problems", "sqhd_problems", "wrr_round_problems"]
