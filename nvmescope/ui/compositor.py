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
        # the columns that changed on each row: only a piece of a row that lies in one
        # of them is ever sent
        spans: dict[int, list[tuple[int, int]]] = {}
        for r in changed:
            for y in range(max(r.y, 0), r.bottom):
                spans.setdefault(y, []).append((r.x, r.right))

        def unclaimed(y: int, first_cut: int, last_cut: int) -> bool:
            """A changed piece of row ``y`` between the two cuts that nothing gave yet."""
            line, row_cuts, row_spans = chops[y], cuts[y], spans.get(y, ())
            for k, cut in enumerate(row_cuts[:-1]):
                if first_cut <= cut < last_cut and line.get(cut, False) is None:
                    end = row_cuts[k + 1]
                    if any(cut < x2 and end > x1 for x1, x2 in row_spans):
                        return True
            return False

        for widget, (region, clip) in self.visible_widgets.items():
            shown = region.intersection(clip)
            if not shown.overlaps(crop):
                continue
            first_cut, last_cut = shown.column_span
            for top, bottom in _row_bands(shown, changed):
                needed = [
                    y
                    for y in range(top, bottom)
                    if is_rendered_line(y) and unclaimed(y, first_cut, last_cut)
                ]
                if not needed:
                    continue
                top, bottom = needed[0], needed[-1] + 1
                strips = widget.render_lines(
                    Region(first_cut - region.x, top - region.y, shown.width, bottom - top)
                )
                for y, strip in zip(range(top, bottom), strips, strict=False):
                    if not is_rendered_line(y):
                        continue
                    chops_line = chops[y]
                    final_cuts = [cut for cut in cuts[y] if last_cut >= cut >= first_cut]
                    pieces = strip.divide([cut - first_cut for cut in final_cuts[1:]])
                    for cut, piece in zip(final_cuts, pieces, strict=False):
                        if chops_line.get(cut) is None:
                            chops_line[cut] = piece
        return cast("Sequence[Mapping[int, Strip]]", chops)


def _row_bands(shown: Region, changed: tuple[Region, ...]) -> list[tuple[int, int]]:
    """The rows (top, bottom) of ``shown`` that some changed region overlaps, merged."""
    rows = sorted(
        (overlap.y, overlap.bottom)
        for overlap in (shown.intersection(r) for r in changed)
        if overlap.width and overlap.height
    )
    bands: list[tuple[int, int]] = []
    for top, bottom in rows:
        if bands and top <= bands[-1][1]:
            if bottom > bands[-1][1]:
                bands[-1] = (bands[-1][0], bottom)
        else:
            bands.append((top, bottom))
    return bands
