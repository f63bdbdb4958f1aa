"""A decoded structure as a tree of fields, one field a row, on :class:`RowView`.

The rows are the visible nodes of a :class:`~nvmescope.nvme.decode.FieldNode`
tree flattened depth first: each indented by its depth, a ``▸`` (closed) or
``▾`` (open) before a field that has fields under it, then its label (name,
bits, value, meaning, the specification's title, and the value before the
event for a field the event changed). A run of all-zero array entries shows
as one row (:class:`Fold`) that opens onto the entries.

Free text (a host step's sentence, a note about the event) is rows of the same
view, above the tree, wrapped to the width (and wrapped again when the width
changes), so the panel around it never shows, hides or resizes a widget.

Opening or closing a node splices its rows into or out of the row list at
once, never while drawing: a new tree costs one change of the row count and
the rows on screen (:class:`SteadyScroll`: with the scrollbar always shown, a
new row count needs no layout pass). Keys: up/down, PageUp/PageDown, Home/End move; Right or Enter
opens (Right on an open node goes to its first field), Left closes (or goes to
the parent), Space and Enter toggle, ``e`` opens every field. A click selects
a row, a click on the marker (or a double click) opens or closes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.strip import Strip

from nvmescope.nvme.decode import FieldNode, format_value
from nvmescope.ui.widgets._rowview import RowView
from nvmescope.ui.widgets._strips import fitted

#: runs of this many all-zero array entries fold into one row
FOLD_ZEROS = 4
#: cells of indentation a level
INDENT = 2
OPENED = "▾ "
CLOSED = "▸ "
LEAF = "  "
_GUIDE = "│" + " " * (INDENT - 1)
#: the width free text is wrapped to before the view has a size
_WRAP_DEFAULT = 80


@dataclass(eq=False)
class Fold:
    """A run of all-zero array entries shown as one row of the tree."""

    members: list[FieldNode]

    @property
    def offset(self) -> int:
        return self.members[0].offset

    @property
    def size(self) -> int:
        last = self.members[-1]
        return last.offset + last.size - self.offset


#: what a row of the tree shows: a field or a fold of zero entries
Item: TypeAlias = FieldNode | Fold


def display_children(node: FieldNode) -> list[Item]:
    """The children of ``node`` as the tree lists them: runs of zero entries folded."""
    out: list[Item] = []
    run: list[FieldNode] = []

    def flush() -> None:
        if len(run) >= FOLD_ZEROS:
            out.append(Fold(list(run)))
        else:
            out.extend(run)
        run.clear()

    for child in node.children:
        entry = child.name.endswith("]") and "[" in child.name
        if entry and child.size and not any(child.raw):
            run.append(child)
            continue
        flush()
        out.append(child)
    flush()
    return out


def field_label(node: FieldNode, changed: Mapping[str, Any] | None = None) -> Text:
    """One row of the tree: name, bits, value, words, then the specification's title."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(node.name, style="bold")
    if node.bits is not None:
        hi, lo = node.bits
        text.append(f"[{hi}:{lo}]" if hi != lo else f"[{hi}]", style="dim")
    title = node.title
    meaning = node.meaning
    if title and meaning.startswith(title):
        words = meaning[len(title) :].removeprefix(": ")
    else:
        words, title = meaning, ""
    value = node.value
    shown = ""
    if isinstance(value, bool):
        shown = str(value).lower()
    elif isinstance(value, int):
        shown = format_value(value)
    elif isinstance(value, (bytes, bytearray)):
        shown = "" if words else format_value(bytes(value))
    elif isinstance(value, str):
        shown = repr(value) if value else "''"
    elif value is not None:
        shown = str(value)
    if shown:
        text.append(" = ")
        text.append(shown, style="bold")
    if changed and node.path in changed:
        text.append(f" (was {format_value(changed[node.path])})", style="bold italic")
    if words:
        text.append("  ")
        text.append(words)
    if title:
        text.append("  ")
        text.append(title, style="dim italic")
    return text


def fold_label(fold: Fold) -> Text:
    """The row of a fold: the first and last entry and how many there are."""
    first, last = fold.members[0], fold.members[-1]
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{first.name}..{last.name}", style="bold")
    text.append(f"  {len(fold.members)} entries, all zero", style="dim italic")
    return text


def chain_to(root: FieldNode, target: FieldNode) -> list[FieldNode] | None:
    """The nodes from ``root`` down to ``target`` (both included), or None."""
    if root is target:
        return [root]
    for child in root.children:
        inside = child.size == 0 or (
            child.offset <= target.offset
            and target.offset + target.size <= child.offset + child.size
        )
        if child is target or (inside and child.children):
            found = chain_to(child, target)
            if found is not None:
                return [root, *found]
    return None


@dataclass(eq=False, slots=True)
class _Row:
    """One row: an item of the tree at a depth, or a line of free text (``item`` None).
    Compared by identity: a row is its own key in the line cache."""

    item: Item | None
    depth: int
    line: Text | None = None
    note: bool = False


class FieldTree(RowView):
    """See the module docstring."""

    DEFAULT_CSS = """
    FieldTree {
        background: $surface;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
        & > .fieldtree--guide { color: $surface-lighten-2; }
        & > .fieldtree--marker { color: $text-accent; }
        & > .fieldtree--cursor {
            background: $block-cursor-blurred-background;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .fieldtree--text { color: $text; }
        & > .fieldtree--note { color: $text-warning; text-style: italic; }
        &:focus {
            & > .fieldtree--guide { color: $surface-lighten-3; }
            & > .fieldtree--cursor {
                color: $block-cursor-foreground;
                background: $block-cursor-background;
                text-style: $block-cursor-text-style;
            }
        }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "fieldtree--guide",
        "fieldtree--marker",
        "fieldtree--cursor",
        "fieldtree--text",
        "fieldtree--note",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right", "open", "open", show=False),
        Binding("left", "close", "close", show=False),
        Binding("space", "toggle", "open/close", show=False),
        Binding("e", "open_all", "open all", show=False, tooltip="Open every field"),
    ]

    class Highlighted(RowView.Highlighted):
        """The user moved the cursor onto a row (a key or a click): ``item`` is the field
        (or fold) it shows, None for a line of text; ``root`` the tree it belongs to."""

        def __init__(self, view: RowView, row: int) -> None:
            super().__init__(view, row)
            tree = view if isinstance(view, FieldTree) else None
            self.item: Item | None = tree.item_at(row) if tree is not None else None
            self.root: FieldNode | None = tree.root if tree is not None else None

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        #: how many new trees were shown (a relabel of the same one is not one)
        self.builds = 0
        self._root: FieldNode | None = None
        self._changed: dict[str, Any] = {}
        self._text = ""
        self._note = ""
        self._text_rows: list[_Row] = []
        self._wrap_width = 0
        self._flat: list[_Row] = []
        self._open: set[int] = set()
        self._kids: dict[int, list[Item]] = {}
        self._parents: dict[int, Item] = {}
        self._row_objects: dict[int, _Row] = {}
        self._index: dict[int, int] | None = None
        self._spacer = _Row(None, 0, Text())

    # -- what is shown -------------------------------------------------------------------
    @property
    def root(self) -> FieldNode | None:
        return self._root

    @property
    def changed(self) -> Mapping[str, Any]:
        """path -> the value before the event (the fields marked ``(was ...)``)."""
        return self._changed

    @property
    def text_rows(self) -> int:
        """How many rows of free text (and the blank row after them) come before the tree."""
        root = self.row_of(self._root) if self._root is not None else None
        return len(self._flat) if root is None else root

    def show(
        self,
        root: FieldNode | None,
        *,
        changed: Mapping[str, Any] | None = None,
        text: str = "",
        note: str = "",
        open_all: bool = False,
    ) -> bool:
        """Show ``root`` under the free ``text`` (and a ``note``, drawn as a warning).

        A new root starts with only itself open (every node with ``open_all``) and the
        cursor on it; the same root object keeps its open nodes and the cursor, and only
        its labels change (``changed`` marks the fields with their value before). Returns
        True when the tree is a new one."""
        rebuilt = root is not self._root
        new_changed = dict(changed or {})
        relabel = new_changed != self._changed
        self._changed = new_changed
        text_changed = (text, note) != (self._text, self._note)
        if text_changed:
            self._text, self._note = text, note
            self._wrap(self._wrap_width or _WRAP_DEFAULT)
        if rebuilt:
            self.builds += root is not None
            self._root = root
            self._open.clear()
            self._kids.clear()
            self._parents.clear()
            self._row_objects.clear()
            if root is not None:
                self._open.add(id(root))
                if open_all:
                    self._open_everything()
        if rebuilt or text_changed:
            self._relist(keep=not rebuilt)
        if rebuilt or relabel:
            self.invalidate()
        return rebuilt

    def item_at(self, row: int) -> Item | None:
        """The field (or fold) row ``row`` shows; None for text or past the end."""
        if 0 <= row < len(self._flat):
            return self._flat[row].item
        return None

    @property
    def cursor_item(self) -> Item | None:
        return self.item_at(self.cursor_row)

    def row_of(self, item: Item) -> int | None:
        """The row showing ``item``, None when it is not on a row (a closed parent)."""
        if self._index is None:
            self._index = {id(r.item): k for k, r in enumerate(self._flat) if r.item is not None}
        return self._index.get(id(item))

    def is_open(self, item: Item) -> bool:
        return id(item) in self._open

    def parent_of(self, item: Item) -> Item | None:
        """The row ``item`` is listed under (a fold for a folded entry), None for the root."""
        return self._parents.get(id(item))

    def children_of(self, item: Item) -> list[Item]:
        """What opening ``item`` lists (computed once for each item of a tree)."""
        got = self._kids.get(id(item))
        if got is None:
            got = list(item.members) if isinstance(item, Fold) else display_children(item)
            for child in got:
                self._parents[id(child)] = item
                if isinstance(child, Fold):  # its entries are listed under it
                    for member in child.members:
                        self._parents[id(member)] = child
            self._kids[id(item)] = got
        return got

    @staticmethod
    def has_children(item: Item) -> bool:
        return isinstance(item, Fold) or bool(item.children)

    def row_text(self, row: int) -> str:
        """Row ``row`` as plain text, whole (what a user reads there, uncropped)."""
        r = self._flat[row]
        if r.item is None:
            return r.line.plain if r.line is not None else ""
        return self._prefix(r) + self._marker(r) + self._label(r.item).plain

    # -- opening and closing --------------------------------------------------------------
    def set_open(self, item: Item, opened: bool) -> None:
        """Open or close ``item`` (its rows are spliced in or out now)."""
        if not self.has_children(item) or opened == (id(item) in self._open):
            return
        if opened:
            self._open.add(id(item))
        else:
            self._open.discard(id(item))
        row = self.row_of(item)
        if row is None:
            return  # under a closed node: it shows so when that one opens
        depth = self._flat[row].depth
        cursor = self.cursor_row
        if opened:
            rows: list[_Row] = []
            self._rows_under(item, depth + 1, rows)
            self._flat[row + 1 : row + 1] = rows
            if cursor > row:
                cursor += len(rows)
        else:
            end = row + 1
            while end < len(self._flat) and self._flat[end].depth > depth:
                end += 1
            del self._flat[row + 1 : end]
            if row < cursor < end:
                cursor = row
            elif cursor >= end:
                cursor -= end - row - 1
        self._index = None
        self._rows_changed(cursor)

    def toggle(self, item: Item) -> None:
        self.set_open(item, id(item) not in self._open)

    def open_all(self) -> None:
        """Open every node of the tree (the cursor stays on its row's field)."""
        if self._root is None:
            return
        self._open_everything()
        self._relist(keep=True)

    def reveal(self, target: FieldNode) -> bool:
        """Open the tree down to ``target`` and put the cursor on it (nothing is posted);
        False when ``target`` is not a field of this tree."""
        if self._root is None:
            return False
        chain = chain_to(self._root, target)
        if chain is None:
            return False
        for parent, child in zip(chain, chain[1:], strict=False):
            self.children_of(parent)
            self.set_open(parent, True)
            listed_under = self._parents.get(id(child))
            if isinstance(listed_under, Fold):
                self.set_open(listed_under, True)
        return self.select(target)

    def select(self, item: Item) -> bool:
        """Put the cursor on the row of ``item`` and scroll to it (nothing is posted)."""
        row = self.row_of(item)
        if row is None:
            return False
        self.cursor_row = row
        self.show_row(row)
        return True

    def _open_everything(self) -> None:
        assert self._root is not None
        pending: list[Item] = [self._root]
        while pending:
            item = pending.pop()
            if self.has_children(item):
                self._open.add(id(item))
                pending.extend(self.children_of(item))

    # -- the row list -------------------------------------------------------------------
    def _row(self, item: Item, depth: int) -> _Row:
        row = self._row_objects.get(id(item))
        if row is None:
            row = self._row_objects[id(item)] = _Row(item, depth)
        return row

    def _rows_under(self, item: Item, depth: int, out: list[_Row]) -> None:
        for child in self.children_of(item):
            out.append(self._row(child, depth))
            if id(child) in self._open:
                self._rows_under(child, depth + 1, out)

    def _relist(self, keep: bool) -> None:
        """Make the row list again; with ``keep`` the cursor stays on its field (else it
        goes to the root)."""
        old = self.cursor_item if keep else None
        flat = list(self._text_rows)
        if self._root is not None:
            if flat:
                flat.append(self._spacer)  # a blank row between the text and the tree
            flat.append(self._row(self._root, 0))
            if id(self._root) in self._open:
                self._rows_under(self._root, 1, flat)
        self._flat = flat
        self._index = None
        row = self.row_of(old) if old is not None else None
        if row is None:
            row = self.text_rows
        if not keep:
            self.scroll_to(y=0, animate=False, immediate=True)  # a new tree, from its top
        self._rows_changed(row, scroll=not keep)

    def _rows_changed(self, cursor: int, scroll: bool = False) -> None:
        """The row list changed: the cursor goes to row ``cursor`` (the same field)."""
        self.set_row_count(len(self._flat))
        cursor = max(0, min(cursor, len(self._flat) - 1))
        moved = cursor != self.cursor_row
        self.set_reactive(RowView.cursor_row, cursor)
        self.refresh()
        if moved or scroll:
            self.show_row(cursor)

    def _wrap(self, width: int) -> None:
        """The free text as rows ``width`` cells wide."""
        self._wrap_width = width
        rows: list[_Row] = []
        console = self.app.console
        for words, note in ((self._note, True), (self._text, False)):
            if words:
                lines = Text(words).wrap(console, max(8, width))
                rows.extend(_Row(None, 0, line, note) for line in lines)
        self._text_rows = rows

    def on_resize(self, event: events.Resize) -> None:
        width = self.scrollable_content_region.width
        if width and width != self._wrap_width:
            self._wrap_width = width
            if self._text or self._note:
                self._wrap(width)
                self._relist(keep=True)
        # RowView.on_resize runs after this one (the line cache, the cursor kept on screen)

    # -- keys and the mouse ---------------------------------------------------------------
    def action_open(self) -> None:
        item = self.cursor_item
        if item is None or not self.has_children(item):
            return
        if id(item) not in self._open:
            self.set_open(item, True)
        else:
            self.move_to(self.cursor_row + 1)

    def action_close(self) -> None:
        item = self.cursor_item
        if item is None:
            return
        if id(item) in self._open:
            self.set_open(item, False)
            return
        parent = self.parent_of(item)
        row = self.row_of(parent) if parent is not None else None
        if row is not None:
            self.move_to(row)

    def action_toggle(self) -> None:
        item = self.cursor_item
        if item is not None:
            self.toggle(item)

    def action_choose(self) -> None:
        self.action_toggle()

    def action_open_all(self) -> None:
        self.open_all()

    def on_click(self, event: events.Click) -> None:
        event.prevent_default()  # not RowView's: a click here selects or toggles
        offset = event.get_content_offset(self)
        if offset is None:
            return
        row = self.scroll_offset.y + offset.y
        if not 0 <= row < len(self._flat):
            return
        r = self._flat[row]
        on_marker = r.depth * INDENT <= offset.x < (r.depth + 1) * INDENT
        if row != self.cursor_row:
            self.move_to(row)
        if r.item is not None and (on_marker or event.chain > 1):
            self.toggle(r.item)

    # -- drawing -----------------------------------------------------------------------
    def row_key(self, row: int) -> Any:
        r = self._flat[row]
        return r, r.item is not None and id(r.item) in self._open

    def render_line(self, y: int) -> Strip:
        if 0 <= self.scroll_offset.y + y < self.row_count:
            return super().render_line(y)
        return Strip.blank(self.scrollable_content_region.width, self._base_style())

    def _prefix(self, r: _Row) -> str:
        return _GUIDE * r.depth

    def _marker(self, r: _Row) -> str:
        if r.item is None or not self.has_children(r.item):
            return LEAF
        return OPENED if id(r.item) in self._open else CLOSED

    def _label(self, item: Item) -> Text:
        if isinstance(item, Fold):
            return fold_label(item)
        return field_label(item, self._changed)

    def render_row(self, row: int, width: int, selected: bool) -> Strip:
        r = self._flat[row]
        st = self._style
        console = self.app.console
        base = self._base_style()
        if r.item is None:
            line = r.line or Text()
            style = base + st("note" if r.note else "text")
            return fitted(Segment.apply_style(line.render(console, end=""), style), width, pad=base)
        prefix, marker = self._prefix(r), self._marker(r)
        label = self._label(r.item)
        label.truncate(max(0, width - len(prefix) - len(marker)), overflow="ellipsis")
        body = [Segment(marker, st("marker")), *label.render(console, end="")]
        if selected:
            body = list(Segment.apply_style(body, post_style=st("cursor")))
        return fitted([Segment(prefix, st("guide")), *body], width, base=base, pad=base)


__all__ = [
    "FOLD_ZEROS",
    "FieldTree",
    "Fold",
    "Item",
    "chain_to",
    "display_children",
    "field_label",
    "fold_label",
]
