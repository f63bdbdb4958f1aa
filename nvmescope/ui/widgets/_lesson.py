"""The lesson bar: the step of a lesson being given, its words, and where the cursor is.

It sits above the status bar while a lesson is on: a heading (which lesson, which
step of how many, the keys), the step's text, and one line that says whether the
cursor is on the step's event or how far the student has stepped from it. The app
owns the lesson (:class:`LessonRun`) and tells the bar what to show.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from nvmescope.trace.lesson import Lesson, LessonStep
from nvmescope.ui.widgets._panel import set_text
from nvmescope.ui.widgets._textlines import TextLines


@dataclass
class LessonRun:
    """A lesson being given: its steps' events in this session and the step shown."""

    lesson: Lesson
    stops: list[int]
    current: int = 0  # an index into lesson.steps
    shown: bool = True

    @property
    def step(self) -> LessonStep:
        return self.lesson.steps[self.current]

    @property
    def stop(self) -> int:
        return self.stops[self.current]

    @property
    def last(self) -> bool:
        return self.current == len(self.stops) - 1


class LessonBar(Vertical):
    """See the module docstring."""

    DEFAULT_CSS = """
    LessonBar {
        height: auto;
        max-height: 12;
        display: none;
    }
    LessonBar.-on {
        display: block;
    }
    """

    def compose(self) -> ComposeResult:
        yield TextLines(id="lesson-heading")
        yield Static(id="lesson-text")
        yield TextLines(id="lesson-where")

    def show_step(self, run: LessonRun) -> None:
        """The step ``run.current`` of the lesson, as the student arrives at it."""
        step = run.step
        total = len(run.stops)
        heading = Text(no_wrap=True, overflow="ellipsis")
        heading.append(f" Step {step.number} of {total} ", "bold reverse")
        heading.append(f" {step.title}", "bold")
        heading.append(f"   {run.lesson.title}", "dim")
        set_text(self.query_one("#lesson-heading", TextLines), heading)
        self.query_one("#lesson-text", Static).update(Text(" ".join(step.text.split())))

    def show_cursor(self, run: LessonRun, cursor: int) -> None:
        """Where the cursor is, against the step's event."""
        where = Text(no_wrap=True, overflow="ellipsis")
        stop = run.stop
        if cursor == stop:
            where.append(f"at this step's event ({stop})", "italic")
        else:
            away = cursor - stop
            words = f"{abs(away)} event{'s' if abs(away) != 1 else ''}"
            where.append(
                f"at event {cursor}, {words} {'after' if away > 0 else 'before'} "
                f"this step's event ({stop})",
                "italic",
            )
            where.append("   l: back to it", "bold")
        if run.last:
            where.append("   the last step: < goes back; L leaves the lesson", "dim")
        else:
            where.append("   >: next step  <: previous  L: leave the lesson", "dim")
        set_text(self.query_one("#lesson-where", TextLines), where)


__all__ = ["LessonBar", "LessonRun"]
