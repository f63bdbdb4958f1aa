"""nvmescope: an NVMe controller you can watch."""

__version__ = "0.1.0"
