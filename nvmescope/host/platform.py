"""The platform around the PCI function: what its firmware does before the host runs,
and the interrupt routing its kernel finds.

On a real PC the firmware (SeaBIOS, qboot, UEFI) enumerates PCI before any OS: it
reads each function's Interrupt Pin (3Dh), routes that INTx pin to an IRQ of the
interrupt controller and writes the number into Interrupt Line (3Ch), where the OS
finds it (Linux's ``pci_read_irq`` keeps it as the function's IRQ). When a driver
enables the function, Linux may route the pin anew (``pcibios_enable_irq``: with ACPI,
the ``_PRT`` tables give an IO-APIC input) and keeps that number instead; it writes
nothing to the device. ``lspci`` shows the kernel's number ("routed to IRQ N").

:class:`Platform` holds those two numbers; the Machine takes them from the
configuration's ``interrupt_line`` and ``intx_irq`` knobs (their ranges are declared
with the other knobs, in ``ControllerConfig.problems``). 0 means the step does not
happen: no firmware writes Interrupt Line, no routing replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass

from nvmescope.nvme import pci as p
from nvmescope.sim import Task

from .api import HostAPI
from .driver import ACTION_NS, NOTE_NS

#: where Interrupt Line and Interrupt Pin are, from the one declaration of the header
_OFFSET = {name: offset for offset, _, name in p.CONFIG_REGISTERS}
INTERRUPT_LINE = _OFFSET["interrupt_line"]
INTERRUPT_PIN = _OFFSET["interrupt_pin"]
#: Interrupt Pin values: 0 none, 1..4 INTA# .. INTD#
_PINS = {1: "A", 2: "B", 3: "C", 4: "D"}


@dataclass(frozen=True)
class Platform:
    """The machine around the function: its firmware's and its kernel's INTx routing."""

    #: the IRQ the firmware writes into Interrupt Line before the host runs (0: none)
    interrupt_line: int = 0
    #: the IRQ the kernel routes INTx to when the driver enables the function (0: none,
    #: the kernel keeps Interrupt Line's value)
    intx_irq: int = 0


def firmware_pci_setup(api: HostAPI, platform: Platform) -> Task:
    """The firmware's PCI set-up, before the OS: read Interrupt Pin, write Interrupt Line.

    Nothing happens when the platform has no such firmware step (``interrupt_line`` 0).
    """
    line = platform.interrupt_line & 0xFF
    if not line:
        return
    api.note(
        "firmware_read_interrupt_pin",
        "Firmware, before the OS runs: read Interrupt Pin (3Dh) to learn which INTx pin the "
        "function uses, if any.",
    )
    yield NOTE_NS
    pin = api.config_read(INTERRUPT_PIN, 1)
    yield ACTION_NS
    if pin not in _PINS:
        api.note(
            "firmware_no_intx",
            f"Interrupt Pin is {pin}: the function uses no INTx pin, so the firmware routes "
            "nothing and leaves Interrupt Line alone.",
        )
        yield NOTE_NS
        return
    api.note(
        "firmware_write_interrupt_line",
        f"Firmware: the platform routes INTx pin {_PINS[pin]} to IRQ {line}; write "
        f"{line:02X}h into Interrupt Line (3Ch), where the OS will find it. The device does "
        "nothing with this register: it only holds the number for software.",
    )
    yield NOTE_NS
    api.config_write(INTERRUPT_LINE, 1, line)
    yield ACTION_NS
