"""One line of segments as one strip of an exact width.

Each Textual ``Strip`` carries seven small caches, so a strip costs several
microseconds to make; ``Strip(...).crop(...).apply_style(...).adjust_cell_length(...)``
makes up to four for one line, and a step draws dozens of lines. ``fitted`` does the
same work on the list of segments and makes one.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip


def fitted(
    segments: Iterable[Segment],
    width: int,
    *,
    base: Style | None = None,
    pad: Style | None = None,
    post: Style | None = None,
    simplify: bool = False,
) -> Strip:
    """``segments`` cut to ``width`` cells, ``base`` under each one's style, padded to
    ``width`` with spaces in ``pad``, then ``post`` over all of it: what
    ``Strip(segments).crop(0, width).apply_style(base).adjust_cell_length(width, pad)``
    gives, and ``Segment.apply_style(..., post_style=post)`` after it."""
    line = list(segments)
    length = Segment.get_line_length(line)
    if length > width:
        line = list(Strip(line, length).crop(0, width))
        length = width
    if base is not None:
        line = list(Segment.apply_style(line, base))
    if length < width:
        line.append(Segment(" " * (width - length), pad))
    if post is not None:
        line = list(Segment.apply_style(line, post_style=post))
    if simplify:
        line = list(Segment.simplify(line))
    return Strip(line, width)


__all__ = ["fitted"]
