"""A compositor that, between full frames, draws only the widgets a change touched.

Textual composes a partial frame by asking every widget inside the bounding box of
all the regions that changed to render its lines, and then sends only the changed
spans to the terminal. A step changes two lines of the timeline (on the left), the
detail pane (on the right) and the status bar (at the bottom): their bounding box is
the whole screen, so every widget on it (the footer's keys, the registers, each
container) renders on every step for nothing. This compositor keeps Textual's own
partial frame and narrows only which widgets render: those that overlap one of the
changed regions. The cells a skipped widget would have given lie outside every
changed span, so they are never sent (Textual skips a piece with no strip), and the
frame on the terminal is the same; ``tests/test_tui_partial_frames.py`` checks that
a run of partial frames leaves the screen a full frame would draw.

It overrides two methods of Textual's ``Compositor`` (Textual is pinned; a test
fails if the version changes without this being checked again).
"""

from __future__ import annotations

from collections.abc import Iterable

from textual._compositor import ChopsUpdate, Compositor
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

#: the Textual version these overrides were written against
TEXTUAL_VERSION = "8.2.8"


class ChangedOnlyCompositor(Compositor):
    """See the module docstring."""

    _changed: tuple[Region, ...] = ()
    _narrow = False

    def render_partial_update(self) -> ChopsUpdate | None:
        self._changed = tuple(self._dirty_regions)
        try:
            return super().render_partial_update()
        finally:
            self._changed = ()

    def _get_renders(
        self, crop: Region | None = None
    ) -> Iterable[tuple[Region, Region, list[Strip]]]:
        if crop is None or not self._changed:
            yield from super()._get_renders(crop)
            return
        # the widgets are read when the generator starts: narrow them only then (the
        # cuts, which need every widget, were computed before)
        self._narrow = True
        try:
            yield from super()._get_renders(crop)
        finally:
            self._narrow = False

    @property
    def visible_widgets(self) -> dict[Widget, tuple[Region, Region]]:
        widgets = super().visible_widgets
        if not self._narrow:
            return widgets
        changed = self._changed
        narrowed = {}
        for widget, (region, clip) in widgets.items():
            shown = region.intersection(clip)
            if any(shown.overlaps(r) for r in changed):
                narrowed[widget] = (region, clip)
        return narrowed
