"""The options of `nvmescope linux run`, each with its range, declared once (the CLI
imports this light module; :mod:`nvmescope.qemu.run` uses the same values)."""

from __future__ import annotations

#: seconds: the whole run, and from QEMU's start to the driver's probe
DEFAULT_TIMEOUT_S = 300
DEFAULT_PROBE_TIMEOUT_S = 180
#: the range of both (the CLI refuses anything outside it)
TIMEOUT_RANGE = (1, 24 * 3600)
#: QEMU's accelerators the run can use: TCG (anywhere) or KVM (see docs/linux-guest.md)
ACCELS = ("tcg", "kvm")
#: the knobs the proxy needs, set unless -c sets them: INTx only, a 32-bit BAR0
PROXY_KNOBS = {"msix": False, "bar0_64bit": False}
#: where a run records unless -o says otherwise
DEFAULT_RECORDING = "nvmescope-linux.nvmetrace"
