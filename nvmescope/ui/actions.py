"""Every action of the TUI, declared once: its keys, its footer label and its palette entry.

The app's key bindings and the command palette (Ctrl+P) are both built from
:data:`ACTIONS`, so nothing can be reached by a key and not from the palette.
The keys follow gdb and rr: one letter forwards, the same letter shifted
backwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Action:
    keys: str
    action: str
    label: str
    title: str
    help: str
    footer: bool = True


ACTIONS: tuple[Action, ...] = (
    Action("s", "step(1)", "step", "Step forward", "One event forwards (a live session runs it)"),
    Action("S", "step(-1)", "back", "Step back", "One event backwards"),
    Action("n", "completion(1)", "next cqe", "Next completion", "Forwards to the next CQE posted"),
    Action(
        "N",
        "completion(-1)",
        "prev cqe",
        "Previous completion",
        "Backwards to the previous CQE posted",
        footer=False,
    ),
    Action(
        "c",
        "continue(1)",
        "continue",
        "Continue",
        "Forwards to the next breakpoint (a live session runs until one, the end or a key)",
    ),
    Action(
        "C",
        "continue(-1)",
        "reverse",
        "Reverse continue",
        "Backwards to the previous breakpoint",
        footer=False,
    ),
    Action("g", "first", "first", "First event", "Go to event 0", footer=False),
    Action("G", "last", "last", "Last event", "Go to the last event (so far, live)", footer=False),
    Action(
        "colon",
        "goto",
        "goto",
        "Go to event or time",
        "An event number (42, +10, -5) or a virtual time (1056.1us, 2ms)",
    ),
    Action(
        "left_square_bracket",
        "history(-1)",
        "hist back",
        "History back",
        "Back to where the cursor was before the last jump",
        footer=False,
    ),
    Action(
        "right_square_bracket",
        "history(1)",
        "hist fwd",
        "History forward",
        "Forward again in the history of cursor positions",
        footer=False,
    ),
    Action(
        "slash",
        "filter",
        "filter",
        "Filter the timeline",
        "Show only events that match a filter expression (empty: show all)",
    ),
    Action(
        "question_mark",
        "search",
        "search",
        "Search text",
        "Find text in the event descriptions, forwards from the cursor",
        footer=False,
    ),
    Action(
        "ctrl+n",
        "search_again(1)",
        "next match",
        "Next match",
        "The next event the last search matches",
        footer=False,
    ),
    Action(
        "ctrl+b",
        "search_again(-1)",
        "prev match",
        "Previous match",
        "The previous event the last search matches",
        footer=False,
    ),
    Action(
        "b",
        "add_breakpoint",
        "break",
        "Add a breakpoint",
        "A filter expression, or one made from this event (its kind, register, opcode, queue)",
    ),
    Action(
        "B",
        "breakpoints",
        "breakpoints",
        "List breakpoints",
        "Toggle, edit and delete breakpoints",
        footer=False,
    ),
    Action(
        "m", "bookmark", "mark", "Bookmark this event", "Set a bookmark with a note", footer=False
    ),
    Action(
        "apostrophe",
        "bookmarks",
        "marks",
        "List bookmarks",
        "Jump to or delete a bookmark",
        footer=False,
    ),
    Action(
        "r",
        "save",
        "save",
        "Save the session",
        "Write the session so far as a recording (it replays with --verify)",
        footer=False,
    ),
    Action(
        "escape",
        "escape",
        "clear",
        "Stop / clear",
        "Stop a run or a search; else clear the filter or the followed command",
        footer=False,
    ),
    Action(
        "f1",
        "toggle_keys",
        "keys",
        "Help: every key",
        "Show or hide the keys of the panel with focus and of the app (Esc hides them too)",
        footer=False,
    ),
    Action(
        "greater_than_sign",
        "lesson_step(1)",
        "next step",
        "Next lesson step",
        "A lesson: on to its next step (the cursor goes to the step's event)",
    ),
    Action(
        "less_than_sign",
        "lesson_step(-1)",
        "prev step",
        "Previous lesson step",
        "A lesson: back to its previous step",
        footer=False,
    ),
    Action(
        "l",
        "lesson_return",
        "to step",
        "Back to the lesson step",
        "A lesson: the cursor back on the event the step explains",
        footer=False,
    ),
    Action(
        "L",
        "lesson_toggle",
        "lesson",
        "Leave or rejoin the lesson",
        "A lesson: hide its explanation and step freely; again to come back to it",
        footer=False,
    ),
    Action(
        "p",
        "play",
        "play",
        "Auto-play",
        "Step forwards on its own, one event per beat, until a breakpoint, a lesson step "
        "or the end (p again, Esc or a step key pauses)",
        footer=False,
    ),
    Action(
        "plus",
        "play_speed(1)",
        "faster",
        "Auto-play faster",
        "A shorter beat between auto-played events",
        footer=False,
    ),
    Action(
        "minus",
        "play_speed(-1)",
        "slower",
        "Auto-play slower",
        "A longer beat between auto-played events",
        footer=False,
    ),
    Action(
        "P",
        "present",
        "present",
        "Presentation mode",
        "For a projector: the timeline and one panel only (the lesson's or the focused "
        "one), in high-contrast colours; P again to leave",
        footer=False,
    ),
    Action(
        "i",
        "compose",
        "compose",
        "Compose a command",
        "Live: build an SQE by hand (a preset, or the opcode and its fields) and send it; "
        "then step through doorbell, fetch, DMA, CQE and interrupt",
    ),
    Action(
        "W",
        "poke",
        "poke",
        "Write a register by hand",
        "Live: write any BAR0 register or doorbell, or PCI configuration space, and watch "
        "the device answer",
        footer=False,
    ),
    Action(
        "F",
        "faults",
        "faults",
        "Faults",
        "Live: make the device misbehave (drop an interrupt, delay completions, mask a "
        "vector, force a status, stop fetching) and see what the driver sees",
        footer=False,
    ),
    Action("q", "quit", "quit", "Quit", "Leave nvmescope"),
)

#: the beats auto-play can keep, seconds per event, slowest first
PLAY_BEATS = (4.0, 2.0, 1.0, 0.5, 0.25, 0.1, 0.05)
#: the beat auto-play starts with
PLAY_BEAT = 1.0

#: the actions that mean something only while a lesson is given
LESSON_ACTIONS = frozenset({"lesson_step", "lesson_return", "lesson_toggle"})

#: The panels in the order of their number keys (1..8) and the tab bar.
PANELS: tuple[tuple[str, str, str], ...] = (
    ("timeline", "Timeline", "Time"),
    ("registers", "Registers", "Regs"),
    ("queues", "Queues", "Queues"),
    ("detail", "Detail", "Detail"),
    ("memory", "Memory", "Mem"),
    ("interrupts", "Interrupts & PCI", "IRQ"),
    ("commands", "Commands", "Cmds"),
    ("checks", "Checks", "Checks"),
)


def bindings() -> list[Binding]:
    """The app's bindings: every action, and a number key per panel."""
    out = [
        Binding(a.keys, a.action, a.label, show=a.footer, tooltip=a.help, priority=False)
        for a in ACTIONS
    ]
    for number, (panel, title, _) in enumerate(PANELS, start=1):
        out.append(
            Binding(str(number), f"focus_panel('{panel}')", title, show=False, tooltip=title)
        )
    # Tab and Shift+Tab move the focus as the app takes the key, before it routes the keys
    # that came after it (a screen's own Tab binding runs only once the key has bubbled up
    # to it): so "Tab 1 2" in one burst types 12 into the next field, not into this one
    out += [
        Binding("tab", "app.focus_next", "Focus Next", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", "Focus Previous", show=False, priority=True),
    ]
    return out


def palette_entries() -> list[tuple[str, str, str]]:
    """(title, help, action) for the command palette: every action and every panel."""
    out = [(a.title, a.help, a.action) for a in ACTIONS]
    for number, (panel, title, _) in enumerate(PANELS, start=1):
        out.append(
            (f"Show {title}", f"Focus the {title} panel (key {number})", f"focus_panel('{panel}')")
        )
    return out
