"""Device benchmark: nvmescope's controller beside QEMU 7.2's, commands per second.

    python benchmarks/bench_device.py                # the whole run, QEMU too (some minutes)
    python benchmarks/bench_device.py --runs 3 --commands 8000
    python benchmarks/bench_device.py --quick        # a few hundred commands, no QEMU

Two works, each three ways: every event kept (capture on: the Machine's list of
events), none kept (capture off: ``Machine(keep_events=False)``; the events are still
made and sent to the bus) and recorded (none kept; a ``Recorder`` writes every one to a
file, the way ``nvmescope record`` does):

- bare: a host loop of bare API calls, one I/O queue pair, 4 KiB reads at queue depth
  32, no interrupts (the I/O CQ is created with IEN 0): write 32 SQEs, ring the SQ tail
  doorbell once, let the device run until it is idle, read the 32 CQEs (checking the
  phase tag, the command identifier and the status of each), ring the CQ head doorbell
  once. One program (``bare_loop``) drives both devices through a four-call port: PCI
  configuration, BAR0, host memory, and ``settle`` (nvmescope: ``run_until_idle()``;
  QEMU: nothing, the host reads the CQE again until its phase tag flips).
- io-load: the built-in Linux host model, ``io-load`` with queues=1 depth=32 (4 KiB
  writes, each read back and compared, with the driver's notes, MSI-X interrupts and
  its handler), timed from its first note after the bring-up.

For each: commands per second, events per second, events per command, peak memory
(``ru_maxrss`` of a child process that ran only that work, and its growth during the
work per event), the recording's bytes per event and its overhead (recorded against
capture off), and the cost of one command split by phase. Rates are given by wall time
and by CPU time (nvmescope: the process's; QEMU: the client's and QEMU's, every
thread): on a machine busy with other work the wall clock favours processes that wait
on a socket (the qtest client and QEMU) over one that computes, so the ratios to QEMU
are best read by CPU time.

The phase split comes from the event kinds and this thread's CPU clock: a subscriber on
the bus reads ``thread_time_ns`` at every event and charges the time since the previous
event to the phase of the new one, i.e. to the work that produced it (fetch:
``sqe_fetch``, ``cmd_start``; PRP and DMA: ``map_prp``, ``prp_list_read``, ``map_sgl``,
``sgl_segment_read``, ``dma_*``; CQE: ``cmd_finish``, ``cqe_post``, ``cq_full``;
interrupt: ``irq_*`` and the host's ``host_irq``; host: every other host event (MMIO,
doorbells, host memory, the driver's notes); other: state changes, ``err_*``,
``ub_*``). The subscriber's own cost, measured on a throwaway copy, is taken off each
phase once per event; the split runs apart, and its shares are applied to the
per-command CPU time of the capture-on run.

When ``qemu-system-x86_64`` is on the PATH (or ``--qemu PATH``), the same bare loop
runs on QEMU's emulated NVMe controller (``-device nvme`` on a null-co drive that reads
zeros, machine q35), driven from Python over the qtest protocol on a Unix socket, one
request and its answer at a time: ``outl``/``inl`` to 0xCF8/0xCFC for PCI configuration,
``readl``/``writel``/``writeq`` for BAR0, ``read``/``write`` for guest memory. Debian's
QEMU 7.2 is built without the qtest accelerator (``-accel qtest`` is refused), so there
is no ``clock_step``: the machine runs under TCG on the wall clock, its firmware a
64 KiB image that halts the CPU at the reset vector (no guest code runs, so none
touches the PCI bus), and the host polls the CQE as a real host polls. QEMU runs with
its ``pci_nvme_*`` trace events on (``-trace`` into a ``-D`` log file; the loop's
events are the log's lines from the first I/O SQ doorbell on) and off; the ratios are
against QEMU with its trace on. Without QEMU the benchmark says so and prints
nvmescope's figures alone.

The header gives the speed of a fixed pure-Python loop on this machine. nvmescope is all
Python; what QEMU costs here is mostly C, system calls and a socket, so the ratios move
from machine to machine: quote a run with that figure, and compare runs made on one.

Every figure is the median of --runs runs, each in a fresh child process. The runs go
in rounds: each round runs every measurement once (in an order that rotates from round to
round), so that a machine whose speed drifts over minutes slows all of them alike. A ratio
(against QEMU, and the recording's overhead) is paired: the median of the ratios within
each round, not the ratio of two medians taken minutes apart.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# -- the NVMe host side, written once for both devices -----------------------------------------
CAP, CC, CSTS, AQA, ASQ, ACQ = 0x00, 0x14, 0x1C, 0x24, 0x28, 0x30
SQ0TDBL = 0x1000
QD = 32
#: entries in the I/O queue pair (a multiple of QD, so a batch never straddles the wrap)
IO_QSIZE = 256
ADMIN_QSIZE = 16
BLOCK = 4096
LBA_SIZE = 512  # both devices' default LBA format
NLB = BLOCK // LBA_SIZE
#: guest physical memory the host program uses (both machines have RAM there)
MEM = 0x0100_0000
ASQ_ADDR, ACQ_ADDR = MEM, MEM + 0x1000
IOSQ_ADDR, IOCQ_ADDR = MEM + 0x10000, MEM + 0x20000
DATA_ADDR = MEM + 0x100000
SQE = struct.Struct("<BBHIQQQQIIIIII")
CQE = struct.Struct("<IIHHHH")


def sqe(opc: int, cid: int, nsid: int = 0, prp1: int = 0, **cdw: int) -> bytes:
    """A 64-byte SQE: CDW0 (opcode, cid), NSID, MPTR 0, PRP1, PRP2 0, CDW10..15."""
    words = [cdw.get(f"cdw{n}", 0) for n in range(10, 16)]
    return SQE.pack(opc, 0, cid, nsid, 0, 0, prp1, 0, *words)


class Port(Protocol):
    """What the host program needs of a device: PCI configuration, BAR0, host memory."""

    def config_read32(self, offset: int) -> int: ...
    def config_write32(self, offset: int, value: int) -> None: ...
    def mmio_read32(self, offset: int) -> int: ...
    def mmio_write32(self, offset: int, value: int) -> None: ...
    def mmio_write64(self, offset: int, value: int) -> None: ...
    def mem_write(self, addr: int, data: bytes) -> None: ...
    def mem_read(self, addr: int, length: int) -> bytes: ...
    def settle(self) -> None: ...
    def wait_ns(self, ns: int) -> None: ...


class Queue:
    """A queue pair's host-side indexes: SQ tail, CQ head and the phase expected."""

    def __init__(self, qid: int, sq: int, cq: int, qsize: int) -> None:
        self.qid, self.sq, self.cq, self.qsize = qid, sq, cq, qsize
        self.tail = self.head = 0
        self.phase = 1

    @property
    def sq_doorbell(self) -> int:
        return SQ0TDBL + 8 * self.qid

    @property
    def cq_doorbell(self) -> int:
        return SQ0TDBL + 8 * self.qid + 4


def reap(port: Port, q: Queue, cids: list[int]) -> None:
    """Read one CQE per command from the CQ head on, waiting (settle) until each is posted,
    and check it: a command of this batch (in any order: QEMU completes them out of order),
    successful."""
    waiting = set(cids)
    for _ in cids:
        addr = q.cq + 16 * q.head
        while True:
            _dw0, _dw1, _sqhd, _sqid, got, sf = CQE.unpack(port.mem_read(addr, 16))
            if sf & 1 == q.phase:
                break
            port.settle()
        if got not in waiting or sf >> 1:
            raise RuntimeError(f"CQE of cid {got} (waiting for {len(waiting)}) status {sf >> 1:#x}")
        waiting.discard(got)
        q.head += 1
        if q.head == q.qsize:
            q.head, q.phase = 0, q.phase ^ 1


def admin(port: Port, aq: Queue, opc: int, **fields: int) -> None:
    cid = aq.tail
    port.mem_write(aq.sq + 64 * aq.tail, sqe(opc, cid, **fields))
    aq.tail = (aq.tail + 1) % aq.qsize
    port.mmio_write32(aq.sq_doorbell, aq.tail)
    port.settle()
    reap(port, aq, [cid])
    port.mmio_write32(aq.cq_doorbell, aq.head)


def bring_up(port: Port, bar0: int) -> Queue:
    """PCI (BAR0, memory space, bus master), the admin queue, CC.EN, one I/O queue pair."""
    port.config_write32(0x10, bar0 & 0xFFFF_FFFF)
    port.config_write32(0x14, bar0 >> 32)
    port.config_write32(0x04, 0x0006)  # Command: Memory Space Enable | Bus Master Enable
    port.mmio_write32(CC, 0)
    while port.mmio_read32(CSTS) & 1:
        port.wait_ns(100_000)
    port.mmio_write32(AQA, (ADMIN_QSIZE - 1) << 16 | (ADMIN_QSIZE - 1))
    port.mmio_write64(ASQ, ASQ_ADDR)
    port.mmio_write64(ACQ, ACQ_ADDR)
    port.mmio_write32(CC, 0x0046_0001)  # IOCQES 4, IOSQES 6, NVM command set, EN
    while not port.mmio_read32(CSTS) & 1:
        port.wait_ns(100_000)
    aq = Queue(0, ASQ_ADDR, ACQ_ADDR, ADMIN_QSIZE)
    qsize = (IO_QSIZE - 1) << 16
    # Create I/O CQ 1: physically contiguous (PC), interrupts off (IEN 0)
    admin(port, aq, 0x05, prp1=IOCQ_ADDR, cdw10=qsize | 1, cdw11=0x1)
    # Create I/O SQ 1 on CQ 1, physically contiguous
    admin(port, aq, 0x01, prp1=IOSQ_ADDR, cdw10=qsize | 1, cdw11=1 << 16 | 0x1)
    return Queue(1, IOSQ_ADDR, IOCQ_ADDR, IO_QSIZE)


def bare_loop(port: Port, q: Queue, commands: int) -> int:
    """4 KiB reads at QD32: 32 SQEs, one doorbell, run until idle, 32 CQEs, one doorbell."""
    done = 0
    while done < commands:
        cids = []
        for i in range(min(QD, commands - done)):
            cid = q.tail
            slba = (done + i) * NLB % (1 << 16)
            port.mem_write(
                q.sq + 64 * q.tail,
                sqe(0x02, cid, nsid=1, prp1=DATA_ADDR + BLOCK * i, cdw10=slba, cdw12=NLB - 1),
            )
            cids.append(cid)
            q.tail = (q.tail + 1) % q.qsize
        port.mmio_write32(q.sq_doorbell, q.tail)
        port.settle()
        reap(port, q, cids)
        port.mmio_write32(q.cq_doorbell, q.head)
        done += len(cids)
    return done


# -- nvmescope ------------------------------------------------------------------------------------
class NvmescopePort:
    """The host API of a hand-driven Machine (``Machine(scenario=None)``)."""

    def __init__(self, capture: bool) -> None:
        from nvmescope.machine import Machine

        self.machine = Machine(scenario=None, keep_events=capture)
        api = self.machine.api
        self.config_write32 = lambda offset, value: api.config_write(offset, 4, value)
        self.config_read32 = lambda offset: api.config_read(offset, 4)
        self.mmio_read32 = api.mmio_read32
        self.mmio_write32 = api.mmio_write32
        self.mmio_write64 = api.mmio_write64
        self.mem_write = api.mem_write
        self.mem_read = api.mem_read
        self.settle = api.run_until_idle
        self.wait_ns = api.run_for


# -- QEMU over qtest ------------------------------------------------------------------------------
#: the machine's firmware: 64 KiB whose reset vector (its last 16 bytes, at 0xFFFFFFF0)
#: is ``cli; hlt; jmp $-1``, so the CPU stops at once and no guest code touches the PCI
#: bus while the benchmark programs it (real firmware enumerates it through the same
#: 0xCF8/0xCFC pair; SeaBIOS would even bring the NVMe controller up to boot from it)
HALT_FIRMWARE = bytes(0x10000 - 16) + bytes([0xFA, 0xF4, 0xEB, 0xFD]) + bytes(12)


class QtestError(RuntimeError):
    pass


class QemuPort:
    """QEMU's emulated NVMe controller, driven over the qtest protocol.

    The benchmark listens on a Unix socket and QEMU connects to it (``-qtest unix:PATH``);
    every request is one line and waits for its answer (``OK [VALUE]`` or ``FAIL ...``)."""

    BAR0 = 0xE000_0000

    def __init__(self, qemu: str, trace: bool, workdir: Path) -> None:
        self.workdir = workdir
        path = workdir / "qtest.sock"
        self.log = workdir / "trace.log"
        firmware = workdir / "halt.bin"
        firmware.write_bytes(HALT_FIRMWARE)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        listener.listen(1)
        listener.settimeout(60)
        argv = [
            qemu, "-machine", "q35", "-qtest", f"unix:{path}", "-qtest-log", "/dev/null",
            "-bios", str(firmware),
            "-display", "none", "-nodefaults", "-m", "512M",
            "-blockdev", "driver=null-co,node-name=nvm,size=67108864,read-zeroes=on",
            "-device", "nvme,serial=nvmescope-bench,drive=nvm",
        ]  # fmt: skip
        if trace:
            argv += ["-trace", "pci_nvme_*", "-D", str(self.log)]
        # QEMU's messages go to a file: a pipe nobody reads would fill and stop it
        self.errors = workdir / "stderr.log"
        with open(self.errors, "wb") as stderr:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
            )
        try:
            self.sock, _ = listener.accept()
        except OSError:
            self.proc.kill()
            self.proc.wait()
            said = self.errors.read_text(errors="replace").strip()[-300:]
            raise QtestError(f"QEMU did not connect: {said or 'no message'}") from None
        finally:
            listener.close()
        self.sock.settimeout(20)
        self.rfile = self.sock.makefile("rb")
        self.send = self.sock.sendall
        self.cfg = self.find_nvme()

    def ask(self, line: str) -> str:
        self.send(line.encode() + b"\n")
        while True:
            answer = self.rfile.readline()
            if not answer:
                raise QtestError(f"QEMU closed the qtest socket after {line!r}")
            if answer.startswith(b"OK"):
                return answer[3:].strip().decode()
            if answer.startswith(b"FAIL"):
                raise QtestError(f"{line!r}: {answer.decode().strip()}")
            # anything else is an asynchronous message (IRQ raise/lower): not ours

    def find_nvme(self) -> int:
        """The configuration address of QEMU's NVMe function (1b36:0010) on bus 0."""
        for dev in range(32):
            cfg = 0x8000_0000 | dev << 11
            self.ask(f"outl 0xcf8 {cfg:#x}")
            if int(self.ask("inl 0xcfc"), 16) == 0x0010_1B36:
                return cfg
        raise QtestError("no NVMe function (1b36:0010) on bus 0")

    def config_read32(self, offset: int) -> int:
        self.ask(f"outl 0xcf8 {self.cfg | offset:#x}")
        return int(self.ask("inl 0xcfc"), 16)

    def config_write32(self, offset: int, value: int) -> None:
        self.ask(f"outl 0xcf8 {self.cfg | offset:#x}")
        self.ask(f"outl 0xcfc {value:#x}")

    def mmio_read32(self, offset: int) -> int:
        return int(self.ask(f"readl {self.BAR0 + offset:#x}"), 16)

    def mmio_write32(self, offset: int, value: int) -> None:
        self.ask(f"writel {self.BAR0 + offset:#x} {value:#x}")

    def mmio_write64(self, offset: int, value: int) -> None:
        self.ask(f"writeq {self.BAR0 + offset:#x} {value:#x}")

    def mem_write(self, addr: int, data: bytes) -> None:
        self.ask(f"write {addr:#x} {len(data)} 0x{data.hex()}")

    def mem_read(self, addr: int, length: int) -> bytes:
        return bytes.fromhex(self.ask(f"read {addr:#x} {length}")[2:])

    def settle(self) -> None:
        """Nothing: the machine runs on the wall clock, and the host reads the CQE again."""

    def wait_ns(self, ns: int) -> None:
        time.sleep(ns / 1e9)

    def close(self) -> None:
        self.sock.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def cpu_seconds(self) -> float:
        """CPU time QEMU has used so far, every thread (``/proc/PID/stat`` utime + stime)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def trace_events(self) -> int:
        """The trace's lines from the first I/O SQ doorbell on: the loop's events."""
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return 0
        first = next(
            (i for i, line in enumerate(lines) if "pci_nvme_mmio_doorbell_sq sqid 1 " in line),
            len(lines),
        )
        return len(lines) - first


# -- the phases of a command ----------------------------------------------------------------------
PHASES = ("fetch", "prp_dma", "cqe", "interrupt", "host", "other")
PHASE_TITLES = {
    "fetch": "fetch",
    "prp_dma": "PRP+DMA",
    "cqe": "CQE",
    "interrupt": "interrupt",
    "host": "host",
    "other": "other",
}
PHASE_OF = {
    "sqe_fetch": "fetch",
    "cmd_start": "fetch",
    "map_prp": "prp_dma",
    "prp_list_read": "prp_dma",
    "map_sgl": "prp_dma",
    "sgl_segment_read": "prp_dma",
    "dma_read": "prp_dma",
    "dma_write": "prp_dma",
    "cmd_finish": "cqe",
    "cqe_post": "cqe",
    "cq_full": "cqe",
    "irq_msix": "interrupt",
    "irq_intx": "interrupt",
    "irq_coalesced": "interrupt",
    "host_irq": "interrupt",
}


def phase_of(kind: str, actor: str) -> str:
    phase = PHASE_OF.get(kind)
    if phase is not None:
        return phase
    return "host" if actor == "host" else "other"


class PhaseTimer:
    """A bus subscriber that charges the CPU time (this thread's) since the previous event to
    the phase of each new event: the work that produced it. Its own cost per event is
    measured (``calibrate``) and taken off each phase, once per event of that phase."""

    def __init__(self) -> None:
        self.clock = time.thread_time_ns
        self.spent = dict.fromkeys(PHASES, 0)
        self.counts = dict.fromkeys(PHASES, 0)
        self.cache: dict[tuple[str, str], str] = {}
        self.last = self.clock()

    def __call__(self, event: Any) -> None:
        now = self.clock()
        key = (event.kind, event.actor)
        phase = self.cache.get(key)
        if phase is None:
            phase = self.cache[key] = phase_of(*key)
        self.spent[phase] += now - self.last
        self.counts[phase] += 1
        self.last = now

    def calibrate(self, n: int = 20_000) -> float:
        """Nanoseconds one call costs (on a throwaway timer): what each event's charge
        holds of the timer's own work."""

        class Probe:
            kind, actor = "sqe_fetch", "device"

        probe, timer = Probe(), PhaseTimer()
        t = self.clock()
        for _ in range(n):
            timer(probe)
        return (self.clock() - t) / n

    def result(self) -> dict[str, int]:
        cost = self.calibrate()
        return {p: max(0, round(self.spent[p] - cost * self.counts[p])) for p in PHASES}


# -- one measurement, in a child process ----------------------------------------------------------
def max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one work once; what it did and how long it took (the loop only, not set-up).

    ``spec["mode"]``: nvmescope "on" (the Machine keeps every event), "off" (it keeps
    none) or "file" (it keeps none; a Recorder writes every one to a file, closed inside
    the timing); QEMU "on" (its trace on) or "off"."""
    work, device, mode = spec["work"], spec["device"], spec["mode"]
    split = spec.get("split", False)
    if device == "qemu":
        with tempfile.TemporaryDirectory(prefix="nvmescope-qtest-") as tmp:
            port = QemuPort(spec["qemu"], mode == "on", Path(tmp))
            try:
                q = bring_up(port, QemuPort.BAR0)
                cpu0, qemu0 = time.process_time(), port.cpu_seconds()
                t = time.perf_counter()
                commands = bare_loop(port, q, spec["commands"])
                seconds = time.perf_counter() - t
                cpu = time.process_time() - cpu0 + port.cpu_seconds() - qemu0
            finally:
                port.close()
            events = port.trace_events() if mode == "on" else 0
        return {"commands": commands, "seconds": seconds, "cpu": cpu, "events": events}

    from nvmescope.machine import Machine
    from nvmescope.trace import Recorder

    with tempfile.TemporaryDirectory(prefix="nvmescope-bench-") as tmp:
        path = Path(tmp) / "run.nvmetrace"
        if work == "bare":
            port = NvmescopePort(mode == "on")
            machine = port.machine
        else:
            count = max(1, spec["commands"] // 2)
            machine = Machine(
                scenario="io-load",
                params={"count": count, "queues": 1, "depth": QD},
                keep_events=mode == "on",
            )
        recorder = Recorder.attach(machine, path) if mode == "file" else None
        if work == "bare":
            q = bring_up(port, 0x1_0000_0000)
        elif machine.run_until(lambda e: e.kind == "host_step" and e.step == "io_load") is None:
            raise RuntimeError("io-load never started its load")
        timer: PhaseTimer | None = None
        if split:
            timer = PhaseTimer()
            machine.bus.subscribe(timer)
        rss0, seq0 = max_rss_bytes(), machine.bus.seq
        t, cpu0 = time.perf_counter(), time.process_time()
        if work == "bare":
            commands = bare_loop(port, q, spec["commands"])
        else:
            # step, not run(): run() returns a list of every event it stepped over
            step = machine.step
            while step() is not None:
                pass
            commands = 2 * count
        if recorder is not None:
            recorder.close()
        seconds, cpu = time.perf_counter() - t, time.process_time() - cpu0
        file_bytes = path.stat().st_size if recorder is not None else 0
    if work != "bare" and (machine.scenario is None or not machine.scenario.ok):
        raise RuntimeError(f"io-load failed: {machine.scenario and machine.scenario.failures()}")
    result: dict[str, Any] = {
        "commands": commands,
        "seconds": seconds,
        "cpu": cpu,
        "events": machine.bus.seq - seq0,
        "peak_rss": max_rss_bytes(),
        "rss_growth": max_rss_bytes() - rss0,
        "file_bytes_per_event": file_bytes / max(1, machine.bus.seq),
    }
    if timer is not None:
        result["phases_ns"] = timer.result()
    return result


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """``measure(spec)`` in a fresh interpreter (its memory, its caches, its collector)."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{spec}: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


MODE_WORDS = {
    ("nvmescope", "on"): "capture on",
    ("nvmescope", "off"): "capture off",
    ("nvmescope", "file"): "recorded",
    ("qemu", "on"): "trace on",
    ("qemu", "off"): "trace off",
}


# -- the run ----------------------------------------------------------------------------------------
class Row:
    """One measurement's runs; rates are medians over the runs, by wall time or CPU time."""

    def __init__(self, work: str, device: str, mode: str, runs: list[dict[str, Any]]) -> None:
        self.work, self.device, self.mode, self.runs = work, device, mode, runs

    def median(self, key: str) -> float:
        return statistics.median(r[key] for r in self.runs)

    def cmds_per_s(self, clock: str = "seconds") -> float:
        return statistics.median(r["commands"] / max(r[clock], 1e-9) for r in self.runs)

    def events_per_s(self, clock: str = "seconds") -> float:
        return statistics.median(r["events"] / max(r[clock], 1e-9) for r in self.runs)

    @property
    def events_per_cmd(self) -> float:
        return statistics.median(r["events"] / r["commands"] for r in self.runs)

    def rates(self, clock: str = "seconds") -> list[float]:
        return [r["commands"] / max(r[clock], 1e-9) for r in self.runs]

    def ratio(self, other: Row, clock: str = "seconds") -> float:
        """This row's rate over ``other``'s, paired: the median of the per-round ratios."""
        return statistics.median(
            a / b for a, b in zip(self.rates(clock), other.rates(clock), strict=True)
        )

    def spread(self, clock: str = "seconds") -> str:
        rates = sorted(r["commands"] / max(r[clock], 1e-9) for r in self.runs)
        return f"{rates[0]:,.0f}..{rates[-1]:,.0f}"


def find_qemu(asked: str | None) -> str | None:
    if asked:
        return asked
    return shutil.which("qemu-system-x86_64")


def qemu_version(qemu: str) -> str:
    try:
        out = subprocess.run([qemu, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out.stdout.splitlines()[0] if out.stdout else "?"


def phase_split(work: str, spec: dict[str, Any], runs: int) -> dict[str, float]:
    """Each phase's share of a command's cost (medians over ``runs`` phase-timer runs)."""
    results = [
        child({**spec, "device": "nvmescope", "mode": "on", "split": True}) for _ in range(runs)
    ]
    shares = {
        phase: statistics.median(
            r["phases_ns"][phase] / max(1, sum(r["phases_ns"].values())) for r in results
        )
        for phase in PHASES
    }
    total = sum(shares.values()) or 1.0
    return {phase: share / total for phase, share in shares.items()}


def print_table(rows: list[Row], reference: Row | None) -> None:
    head = (
        f"{'work':8s} {'device':9s} {'mode':11s} {'cmds/s':>8s} {'cmds/s':>8s} {'events/s':>9s} "
        f"{'ev/cmd':>6s} {'us/cmd':>6s} {'peak RSS':>8s} {'B/event':>7s} {'file B/ev':>9s} "
        f"{'vs QEMU':>7s} {'vs QEMU':>7s}"
    )
    units = (
        f"{'':8s} {'':9s} {'':11s} {'wall':>8s} {'CPU':>8s} {'CPU':>9s} {'':>6s} {'CPU':>6s} "
        f"{'':>8s} {'':>7s} {'':>9s} {'CPU':>7s} {'wall':>7s}"
    )
    print(head)
    print(units)
    print("-" * len(head))
    for row in rows:
        if row.device == "nvmescope":
            rss = f"{row.median('peak_rss') / 2**20:.0f} MiB"
            per_event = f"{row.median('rss_growth') / max(1, row.median('events')):.0f}"
        else:
            rss, per_event = "-", "-"
        if reference is not None:
            cpu_ratio = f"{row.ratio(reference, 'cpu'):.2f}x"
            wall_ratio = f"{row.ratio(reference):.2f}x"
        else:
            cpu_ratio = wall_ratio = "-"
        counted = row.events_per_cmd > 0
        file_b = f"{row.median('file_bytes_per_event'):.1f}" if row.mode == "recorded" else "-"
        events_s = f"{row.events_per_s('cpu'):,.0f}" if counted else "-"
        print(
            f"{row.work:8s} {row.device:9s} {row.mode:11s} {row.cmds_per_s():8,.0f} "
            f"{row.cmds_per_s('cpu'):8,.0f} "
            f"{events_s:>9s} "
            f"{f'{row.events_per_cmd:.1f}' if counted else '-':>6s} "
            f"{1e6 / row.cmds_per_s('cpu'):6.1f} {rss:>8s} {per_event:>7s} {file_b:>9s} "
            f"{cpu_ratio:>7s} {wall_ratio:>7s}"
        )


def python_speed(rounds: int = 5, n: int = 2_000_000) -> float:
    """Millions of iterations per CPU second of a fixed pure-Python loop (the median of
    ``rounds``): how fast this machine runs Python, to set beside another day's figures
    (QEMU's depend far less on it than nvmescope's do)."""
    rates = []
    for _ in range(rounds):
        t = time.process_time()
        total = 0
        for i in range(n):
            total += i * 2 % 7
        rates.append(n / max(1e-9, time.process_time() - t) / 1e6)
    return statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="runs of each measurement (median)")
    ap.add_argument("--commands", type=int, default=16_000, help="commands in the bare loop")
    ap.add_argument(
        "--io-load-commands", type=int, default=None, help="commands of io-load (default: half)"
    )
    ap.add_argument("--qemu", default=None, help="the qemu-system-x86_64 to compare with")
    ap.add_argument("--no-qemu", action="store_true", help="leave QEMU out")
    ap.add_argument("--quick", action="store_true", help="a few hundred commands, one run, no QEMU")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(measure(json.loads(args.child))))
        return
    if args.quick:
        args.runs, args.commands, args.no_qemu = 1, 320, True
        args.io_load_commands = args.io_load_commands or 192
    runs = max(1, args.runs)
    bare_n = max(QD, args.commands)
    load_n = max(2, args.io_load_commands or bare_n // 2)
    qemu = None if args.no_qemu else find_qemu(args.qemu)

    print(f"nvmescope device benchmark: medians of {runs} run(s), each in a fresh process")
    print(f"  bare loop: {bare_n:,} 4 KiB reads at QD{QD}, one queue pair, no interrupts")
    print(f"  io-load:   {load_n:,} commands (queues=1 depth={QD}), every note and interrupt")
    if qemu is None:
        why = "--no-qemu" if args.no_qemu else "qemu-system-x86_64 is not on this machine"
        print(f"  QEMU: not measured ({why}): nvmescope's figures alone")
    else:
        print(f"  QEMU: {qemu_version(qemu)}, the bare loop over qtest ({qemu})")
    print("  CPU: the process's CPU time (QEMU: the client's and QEMU's, every thread)")
    print("  ratios: paired, the median of the ratios within each round of runs")
    print(f"  Python: {python_speed():.1f} M iterations/s of a reference loop (machines differ)")
    print()

    specs = {
        "bare": {"work": "bare", "commands": bare_n},
        "io-load": {"work": "io-load", "commands": load_n},
    }
    #: (work, device, mode) -> the child's spec; measured in rounds, each once per round
    plan: dict[tuple[str, str, str], dict[str, Any]] = {}
    for work, spec in specs.items():
        for mode in ("on", "off", "file"):
            plan[work, "nvmescope", mode] = {**spec, "device": "nvmescope", "mode": mode}
    if qemu is not None:
        for mode in ("on", "off"):
            plan["bare", "qemu", mode] = {**specs["bare"], "qemu": qemu, "device": "qemu",
                                          "mode": mode}  # fmt: skip
    results: dict[tuple[str, str, str], list[dict[str, Any]]] = {key: [] for key in plan}
    keys = list(plan)
    for round_ in range(runs):
        print(f"  round {round_ + 1} of {runs}", flush=True)
        for key in keys[round_ % len(keys) :] + keys[: round_ % len(keys)]:
            if key not in plan:
                continue  # QEMU failed in an earlier round
            try:
                results[key].append(child(plan[key]))
            except (RuntimeError, OSError) as exc:
                if key[1] != "qemu":
                    raise
                print(f"  QEMU could not be measured: {exc}")
                for mode in ("on", "off"):
                    plan.pop(("bare", "qemu", mode), None)
                    results.pop(("bare", "qemu", mode), None)
    rows = [Row(work, device, MODE_WORDS[device, mode], results[work, device, mode])
            for (work, device, mode) in plan]  # fmt: skip
    print()
    print("[runs]")
    for row in rows:
        print(
            f"  {row.work:8s} {row.device:9s} {row.mode:11s} {row.cmds_per_s():8,.0f} cmds/s "
            f"wall ({row.spread()}), {row.cmds_per_s('cpu'):8,.0f} CPU ({row.spread('cpu')})"
        )
    reference = next((r for r in rows if r.device == "qemu" and r.mode == "trace on"), None)
    splits = {work: phase_split(work, spec, runs) for work, spec in specs.items()}

    print()
    print("[table]")
    print_table(rows, reference)
    for work in specs:
        recorded = next(r for r in rows if r.work == work and r.mode == "recorded")
        plain = next(r for r in rows if r.work == work and r.mode == "capture off")
        overhead = plain.ratio(recorded, "cpu") - 1
        print(
            f"recording overhead, {work}: {overhead * 100:.0f} % "
            "(CPU time, against capture off, paired by round)"
        )
    print()
    print("per-command CPU cost by phase, us (capture on; shares from a phase-timer run)")
    head = f"{'work':8s} " + " ".join(f"{PHASE_TITLES[p]:>9s}" for p in PHASES) + f" {'total':>7s}"
    print(head)
    print("-" * len(head))
    for work, shares in splits.items():
        row = next(r for r in rows if r.work == work and r.mode == "capture on")
        us = 1e6 / row.cmds_per_s("cpu")
        print(f"{work:8s} " + " ".join(f"{shares[p] * us:9.1f}" for p in PHASES) + f" {us:7.1f}")
    if reference is None:
        print()
        print("QEMU: not measured, so no ratios")


if __name__ == "__main__":
    main()
