"""The emulated NVMe controller (the device side of the PCI bus).

Public API (see ``docs/architecture.md``): :class:`Controller`,
:class:`ControllerConfig`, :class:`HostPort`.
"""

from .config import ControllerConfig
from .controller import Controller
from .port import HostPort

__all__ = ["Controller", "ControllerConfig", "HostPort"]
