"""Progress as plain lines, one per event, for output that is not a terminal (a log, a pipe).

On a terminal, ``facebench run`` and ``facebench sweep`` draw a rich progress bar; elsewhere a
bar shows nothing until the end, so they print a line per event instead (:class:`Lines`), each
flushed at once: a run's start, each finished session with the elapsed time and an ETA
(:class:`SessionClock`), its evaluation, its end; a sweep's start and each finished run.
"""

from __future__ import annotations

import time


def duration(seconds: float) -> str:
    """'45s', '2m10s', '1h03m'."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def eta(seconds: float, done: int, total: int) -> str:
    """'ETA 5m00s' from ``seconds`` spent on ``done`` of ``total`` equal parts; 'ETA ?' before the first."""
    if done <= 0:
        return "ETA ?"
    return f"ETA {duration(seconds / done * max(0, total - done))}"


class Lines:
    """Plain event lines on ``console``'s file, when that is not a terminal (``enabled``); each
    line is flushed as it is written. ``enabled`` may be forced either way."""

    def __init__(self, console, enabled: bool | None = None):
        self.console = console
        self.enabled = (console is not None and not console.is_terminal) if enabled is None else enabled

    def __call__(self, text: str) -> None:
        if not self.enabled:
            return
        file = self.console.file
        file.write(text + "\n")
        file.flush()


class SessionClock:
    """Elapsed time and ETA of a run from its ``session`` progress events (sessions done, of
    total). The ETA counts only the sessions this process trained, from the first step
    (:meth:`training`): neither the anchors' computation nor the sessions of a resumed
    checkpoint make it wrong."""

    def __init__(self):
        self.began = time.perf_counter()
        self.trained_from: float | None = None
        self.first = 0  # sessions done before this process trained any

    def training(self, done_before: int) -> None:
        """Call at the first training step; ``done_before``: the sessions done already."""
        if self.trained_from is None:
            self.trained_from, self.first = time.perf_counter(), done_before

    def elapsed(self) -> float:
        return time.perf_counter() - self.began

    def session(self, done: int, total: int) -> str:
        """'session 3/10 done, 2m10s elapsed, ETA 5m00s'."""
        if self.trained_from is None:  # sessions restored from a checkpoint
            return f"session {done}/{total} done (from the checkpoint), {duration(self.elapsed())} elapsed"
        spent = time.perf_counter() - self.trained_from
        return (f"session {done}/{total} done, {duration(self.elapsed())} elapsed, "
                f"{eta(spent, done - self.first, total - self.first)}")
