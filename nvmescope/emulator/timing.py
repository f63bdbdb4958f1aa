"""The latency model: how much virtual time each part of a command takes.

A command's time, from its ``cmd_start`` event to its ``cmd_finish``:

- the command overhead (``cmd_latency_ns`` for admin commands, ``io_latency_ns`` for
  I/O commands; at least 1 ns), after ``cmd_start``;
- the media time of a Read or Compare (``media_read_ns`` per 4 KiB of data, or part),
  after the data's ``map_prp`` / ``map_sgl`` and before its DMA; of a Write
  (``media_program_ns`` per 4 KiB), after its last DMA. A command's 4 KiB pieces are
  spread over the ``parallel_units`` (as an SSD stripes data over its dies), so n pieces
  take ceil(n / parallel_units) media times; commands running at once do not slow one
  another down (the model has no contention for dies, channels or the link);
- the transfer time of every data DMA: its bytes at ``link_mbps`` (MB/s, 10^6 bytes a
  second; 0: no time), after the ``dma_read`` / ``dma_write`` event that moved them.

So a 4 KiB Read ends ``io_latency_ns + media_read_ns + transfer_ns(4096)`` after its
``cmd_start``. At most ``parallel_units`` I/O commands run at once (the fetch engine
waits for a free one); each holds its unit from its fetch to its completion.
``docs/architecture.md`` (Timing) gives the profiles' numbers and their sources.
"""

from __future__ import annotations

from .config import ControllerConfig

#: the media's unit of time: 4 KiB, the mapping unit of nearly every SSD's FTL
MEDIA_UNIT = 4096


def transfer_ns(config: ControllerConfig, nbytes: int) -> int:
    """Virtual ns ``nbytes`` of data take over the link (rounded up; 0 without a link)."""
    mbps = config.link_mbps
    return -(-nbytes * 1000 // mbps) if mbps > 0 else 0


def media_ns(per_unit_ns: int, nbytes: int, units: int = 1) -> int:
    """Virtual ns the media takes for ``nbytes`` at ``per_unit_ns`` per 4 KiB (or part),
    the 4 KiB pieces spread over ``units`` parallel units (dies) that work at once."""
    if per_unit_ns <= 0:
        return 0
    pieces = -(-nbytes // MEDIA_UNIT)
    return -(-pieces // max(1, units)) * per_unit_ns
