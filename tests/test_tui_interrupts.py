"""The Interrupts & PCI panel: counts that agree with the events, the MSI-X table, lspci."""

from __future__ import annotations

from pathlib import Path

import pytest

from nvmescope.nvme.lspci import device_name
from nvmescope.ui.marks import Marks
from nvmescope.ui.widgets import InterruptsPanel
from nvmescope.ui.widgets._registers import NOW_GLYPH, SINCE_GLYPH
from tests.tui import RECORDINGS, live_app, press, recorded_app, settle

IDENTIFY = RECORDINGS / "identify.nvmetrace"


def opened(path: Path = IDENTIFY):
    """The app on a recording, with breakpoints kept in memory (never beside the recording)."""
    return recorded_app(path, marks=Marks())


def interrupts(app) -> InterruptsPanel:
    panel = app.main.panels["interrupts"]
    assert isinstance(panel, InterruptsPanel)
    return panel


def texts(panel: InterruptsPanel) -> list[str]:
    return [text.lstrip(NOW_GLYPH + SINCE_GLYPH + " ") for text in panel.row_texts()]


def counted(panel: InterruptsPanel) -> dict[str, tuple[int, int | None]]:
    """{"MSI-X 0": (sent, handled), "INTx": (asserted, None)} as the panel shows them."""
    out: dict[str, tuple[int, int | None]] = {}
    for text in texts(panel):
        words = text.split()
        if text.startswith("MSI-X ") and len(words) > 3 and words[2].isdigit():
            out[f"MSI-X {words[1]}"] = (int(words[2]), int(words[3]))
        elif text.startswith("INTx ") and words[1].isdigit():
            out["INTx"] = (int(words[1]), None)
    return out


def expected_counts(source, upto: int) -> dict[str, tuple[int, int | None]]:
    """Count the events themselves: messages delivered per vector, handler runs, INTx rises."""
    sent: dict[int, int] = {}
    handled: dict[int, int] = {}
    rises, asserted = 0, False
    for e in source.events(0, upto + 1):
        if e.kind == "irq_msix":
            sent.setdefault(e.vector, 0)
            if e.delivered and not e.masked:
                sent[e.vector] += 1
        elif e.kind == "host_irq":
            handled[e.vector] = handled.get(e.vector, 0) + 1
        elif e.kind == "irq_intx":
            rises += e.asserted and not asserted
            asserted = e.asserted
    state = source.state_at(upto)
    vectors = (
        set(sent) | set(handled) | {q.vector for q in state.cqs.values() if q.vector is not None}
    )
    out: dict[str, tuple[int, int | None]] = {
        f"MSI-X {v}": (sent.get(v, 0), handled.get(v, 0)) for v in vectors
    }
    out["INTx"] = (rises, None)
    return out


@pytest.mark.asyncio
async def test_interrupt_counts_agree_with_the_events():
    async with opened() as (app, pilot):
        source = app.source
        kinds = [e.kind for e in source.events(0, len(source))]
        first_msg = kinds.index("irq_msix")
        first_handler = kinds.index("host_irq")
        await press(pilot, "6")
        panel = interrupts(app)
        for at in (0, first_msg - 1, first_msg, first_handler, len(source) // 2, len(source) - 1):
            app.goto(at)
            await settle(pilot)
            assert counted(panel) == expected_counts(source, at), f"at event {at}"
        # the message the device sends is marked as this event's change
        app.goto(first_msg)
        await settle(pilot)
        row = next(t for t in panel.row_texts() if t.lstrip(NOW_GLYPH + " ").startswith("MSI-X "))
        assert row.startswith(NOW_GLYPH)


@pytest.mark.asyncio
async def test_interrupt_counts_agree_with_the_events_live():
    async with live_app("identify") as (app, pilot):
        await press(pilot, "6", "c")  # no breakpoints: runs the scenario to its end
        assert app.source.finished
        panel = interrupts(app)
        assert counted(panel) == expected_counts(app.source, app.cursor)
        assert counted(panel)["MSI-X 0"][0] > 0


@pytest.mark.asyncio
async def test_msix_table_shows_each_entry_address_data_and_mask():
    async with opened() as (app, pilot):
        source = app.source
        writes = [
            (i, e)
            for i, e in enumerate(source.events(0, len(source)))
            if e.kind == "mmio_write" and e.reg.startswith("msix[0].")
        ]
        unmask = next(i for i, e in writes if e.reg == "msix[0].ctrl")
        app.goto(unmask)
        await press(pilot, "6")
        panel = interrupts(app)
        state = source.state_at(unmask)
        v = state.msix[0]
        assert v.address is not None and v.data is not None
        entry = next(
            t
            for t in panel.row_texts()
            if f"0x{v.address:016x}" in t
            and t.lstrip(NOW_GLYPH + SINCE_GLYPH + " ").startswith("0 ")
        )
        assert f"0x{v.data:08x}" in entry
        assert "masked" not in entry and entry.split()[-1] == "no"  # unmasked, not pending
        assert entry.startswith(NOW_GLYPH)  # this event cleared the mask bit
        # where the table is: what the host read from the capability's Table Offset/BIR
        table = next(
            e.value
            for e in source.events(0, unmask)
            if e.kind == "config_read" and e.reg == "msix.table"
        )
        header = next(t for t in texts(panel) if t.startswith("capability at"))
        assert f"table in BAR{table & 7} at {table & ~7:X}h" in header


@pytest.mark.asyncio
async def test_lspci_has_the_vendor_and_device_line_once_the_host_read_config_space():
    async with opened() as (app, pilot):
        source = app.source
        first_read = next(
            i for i, e in enumerate(source.events(0, len(source))) if e.kind == "config_read"
        )
        late = source.state_at(len(source) - 1)
        vendor, device = late.config_value(0, 2), late.config_value(2, 2)
        assert vendor is not None and device is not None
        name = device_name(vendor, device)
        app.goto(first_read - 1)
        await press(pilot, "6")
        panel = interrupts(app)
        assert not any(name in t for t in texts(panel))
        assert any(t.startswith("0 of 256 bytes known") for t in texts(panel))
        await press(pilot, "s")
        state = source.state_at(first_read)
        lines = texts(panel)
        device_line = next(t for t in lines if name in t)
        assert device_line.startswith("00:03.0 ")
        assert any(t.startswith(f"{len(state.config)} of 256 bytes known") for t in lines)
        assert "lspci below reads the unknown ones as 00" in lines
        width = panel.size.width
        assert all(len(t) <= width for t in lines if "bytes known" in t or "unknown ones" in t)
        # the hex dump shows the bytes read and ·· for the others
        first_row = next(t for t in lines if t.startswith("000:"))
        assert first_row.split()[1:5] == [f"{state.config[i]:02x}" for i in range(4)]
        assert "··" in first_row
        # later the lspci lines grow with what the host read: the BAR region, the Control flags
        app.goto(len(source) - 1)
        await settle(pilot)
        assert any(t.startswith("Region 0: Memory at") for t in texts(panel))
        assert any("BusMaster+" in t for t in texts(panel))


@pytest.mark.asyncio
async def test_comma_and_full_stop_go_to_messages_of_the_selected_vector():
    async with opened() as (app, pilot):
        source = app.source
        messages = [
            i
            for i, e in enumerate(source.events(0, len(source)))
            if e.kind == "irq_msix" and e.vector == 0
        ]
        app.goto(messages[1] + 1)
        await press(pilot, "6")
        panel = interrupts(app)
        row = next(i for i, t in enumerate(texts(panel)) if t.startswith("MSI-X 0 "))
        panel.view.move_to(row)
        await press(pilot, "comma")
        assert app.cursor == messages[1]
        await press(pilot, "comma")
        assert app.cursor == messages[0]
        await press(pilot, "full_stop")
        assert app.cursor == messages[1]
        await press(pilot, "full_stop")
        assert app.cursor == messages[2]
