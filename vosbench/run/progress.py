"""What a run tells its watcher: the plan, each sequence, each frame.

``RunProgress`` shows nothing (library use, tests); ``RichProgress`` draws a run bar
(method x sequence pairs) and a sequence bar (frames) with live FPS on stderr.
"""

from __future__ import annotations

from collections import deque


class RunProgress:
    """Receives a run's events; the default ignores them."""

    def plan(self, pairs: int, done: int) -> None:
        """``pairs`` method x sequence pairs in the run, ``done`` of them already finished."""

    def sequence(self, label: str, sequence: str, frames: int) -> None:
        """A sequence starts."""

    def frame(self, index: int, step_ms: float) -> None:
        """Frame ``index`` of the current sequence is done."""

    def sequence_done(self) -> None:
        """The current sequence is committed."""


class RichProgress(RunProgress):
    """Rich progress bars on ``console`` (quiet when it is not a terminal)."""

    def __init__(self, console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[fps]}"),
            TimeElapsedColumn(),
        )
        # off when stderr is no terminal: a transient bar there still ends in a blank line
        self._bars = Progress(*columns, console=console, transient=True, disable=not console.is_terminal)
        self._run = self._bars.add_task("run", total=None, fps="")
        self._frames = self._bars.add_task("", total=None, fps="", visible=False)
        self._recent: deque[float] = deque(maxlen=10)

    def __enter__(self) -> RichProgress:
        self._bars.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.__exit__(*exc)

    def plan(self, pairs: int, done: int) -> None:
        self._bars.update(self._run, total=pairs, completed=done, description="run (method x sequence)")

    def sequence(self, label: str, sequence: str, frames: int) -> None:
        self._recent.clear()
        self._bars.update(self._frames, description=f"{label} {sequence}", total=frames, completed=0, fps="", visible=True)

    def frame(self, index: int, step_ms: float) -> None:
        self._recent.append(step_ms)
        mean = sum(self._recent) / len(self._recent)
        self._bars.update(self._frames, completed=index + 1, fps=f"{1000 / mean:.1f} fps" if mean > 0 else "")

    def sequence_done(self) -> None:
        self._bars.advance(self._run)
