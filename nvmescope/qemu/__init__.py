"""Bridges to QEMU: a real Linux guest in front of nvmescope's controller.

- :mod:`nvmescope.qemu.guest`: the guest, assembled from Debian packages (Linux 6.1,
  busybox, nvme-cli 2.3) into a cache directory (``nvmescope linux build``);
- :mod:`nvmescope.qemu.proxy`: QEMU 7.2's x-pci-proxy-dev wire protocol, declared once;
- :mod:`nvmescope.qemu.memory`: the device's :class:`~nvmescope.emulator.HostPort` over
  the guest's shared RAM, INTx through the irqfd QEMU hands over;
- :mod:`nvmescope.qemu.bridge`: the proxy's server, driving a fresh controller with
  the wall clock;
- :mod:`nvmescope.qemu.run`: one boot of the guest against the bridge, its console, its
  script, the recording (``nvmescope linux run``).

``docs/linux-guest.md`` is the walk-through. This package sits above the emulator, the
host model and the recorder (it uses their public APIs) and below the UI and the CLI.
"""
