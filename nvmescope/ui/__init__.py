"""The Textual app (screens, widgets, styles). Built in the UI issue."""
