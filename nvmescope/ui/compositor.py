"""A compositor that, between full frames, draws only the lines a change touched.

Textual composes a partial frame by asking every widget inside the bounding box of
all the regions that changed to render its lines, and then sends only the changed
spans to the terminal. A step changes two lines of the timeline (on the left), the
detail pane (on the right) and the status bar (at the bottom): their bounding box is
the whole screen, so every widget on it (the footer's keys, the registers, each
container) renders every line on every step for nothing. This compositor keeps
Textual's own partial frame and narrows what renders: a widget renders only the rows
where it overlaps a changed region, and only when one of the cells it covers there
has not been given by a widget in front of it (Textual fills a frame front to back;
the first strip for a cell wins). The containers behind the panels, whose every cell
a panel covers, render nothing; a timeline whose cursor moved renders two rows. The
cells a skipped widget would have given were never used, so the frame on the terminal
is the same; ``tests/test_tui_partial_frames.py`` checks that a run of partial frames
leaves the screen a full frame would draw.

It overrides two methods of Textual's ``Compositor`` (``render_partial_update`` and
``_render_chops``; Textual is pinned, and a test fails if the version changes without
this being checked again).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import cast

from textual._compositor import ChopsUpdate, Compositor
from textual.geometry import Region
from textual.strip import Strip

#: the Textual version these overrides were written against
TEXTUAL_VERSION = "8.2.8"


class ChangedOnlyCompositor(Compositor):
    """See the module docstring."""

    _changed: tuple[Region, ...] = ()

    def render_partial_update(self) -> ChopsUpdate | None:
        self._changed = tuple(self._dirty_regions)
        try:
            return super().render_partial_update()
        finally:
            self._changed = ()

    def _render_chops(
        self, crop: Region, is_rendered_line: Callable[[int], bool]
    ) -> Sequence[Mapping[int, Strip]]:
        changed = self._changed
        if not changed:
            return super()._render_chops(crop, is_rendered_line)
        # Textual's own loop, front to back (the first strip given for a cut wins), with
        # two differences: a widget renders only the rows where it overlaps a changed
        # region, and only when one of the cuts it covers there is still unclaimed. A
        # container behind the panels, whose every cell a panel in front already gave,
        # is not asked for lines at all; a timeline of fifty rows whose cursor moved
        # over two renders two. What a skipped widget would have given was never used.
        cuts = self.cuts
        chops: list[dict[int, Strip | None]] = [dict.fromkeys(cut_set[:-1]) for cut_set in cuts]
        # On each row, the cuts whose piece lies in a changed region (only those pieces
        # are ever sent) and that no widget has given yet; a row leaves the map when
        # its last such piece is given.
        wanted: dict[int, set[int]] = {}
        for r in changed:
            x1, x2 = r.x, r.right
            for y in range(max(r.y, 0), min(r.bottom, len(cuts))):
                row_cuts = cuts[y]
                pieces = {
                    cut
                    for cut, end in zip(row_cuts, row_cuts[1:], strict=False)
                    if cut < x2 and end > x1
                }
                if pieces:
                    wanted.setdefault(y, set()).update(pieces)
        for y in [y for y in wanted if not is_rendered_line(y)]:
            del wanted[y]

        for widget, (region, clip) in self.visible_widgets.items():
            if not wanted:
                break
            shown = region.intersection(clip)
            if not shown.overlaps(crop):
                continue
            first_cut, last_cut = shown.column_span
            needed = [
                y
                for y in range(shown.y, shown.bottom)
                if (open_cuts := wanted.get(y))
                and any(first_cut <= cut < last_cut for cut in open_cuts)
            ]
            for top, bottom in _runs(needed):
                strips = widget.render_lines(
                    Region(first_cut - region.x, top - region.y, shown.width, bottom - top)
                )
                for y, strip in zip(range(top, bottom), strips, strict=False):
                    if y not in wanted:
                        continue
                    chops_line = chops[y]
                    final_cuts = [cut for cut in cuts[y] if last_cut >= cut >= first_cut]
                    pieces = _divide(strip, [cut - first_cut for cut in final_cuts[1:]])
                    open_cuts = wanted[y]
                    for cut, piece in zip(final_cuts, pieces, strict=False):
                        if chops_line.get(cut) is None:
                            chops_line[cut] = piece
                            open_cuts.discard(cut)
                    if not open_cuts:
                        del wanted[y]
        return cast("Sequence[Mapping[int, Strip]]", chops)


def _divide(strip: Strip, cuts: list[int]) -> Sequence[Strip]:
    """``strip.divide(cuts)``, without the reference cycle it makes for one piece.

    Textual's ``Strip.divide`` caches its answer in the strip, and when the cuts leave
    the strip whole that answer is ``[strip]``: the strip refers to itself, and only
    the cycle collector can free it. A frame divides dozens of lines that way, and the
    collector then spends 100 ms and more at a time freeing them.
    """
    if cuts == [strip.cell_length]:
        return (strip,)
    return strip.divide(cuts)


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Rows in ascending order as runs (top, bottom) of consecutive rows, with the
    rows between two runs that are at most two rows apart joined in: one call for
    three rows costs less than two calls."""
    runs: list[tuple[int, int]] = []
    for y in rows:
        if runs and y - runs[-1][1] <= 2:
            runs[-1] = (runs[-1][0], y + 1)
        else:
            runs.append((y, y + 1))
    return runs
