"""Progress as plain lines, one per event, for output that is not a terminal (a log, a pipe).

On a terminal, ``facebench run`` and ``facebench sweep`` draw a rich progress bar; elsewhere a
bar shows nothing until the end, so they print a line per event instead (:class:`Lines`), each
flushed at once: a run's start, each finished session with the elapsed time and an ETA
(:class:`SessionClock`), its evaluation, its end; a sweep's start, each finished session of
each of its runs, wherever it runs, and each finished run.

A sweep counts sessions (:class:`SessionCount`), not only finished runs: its bar
(:class:`SweepBar`) and its lines show the sessions done of those its runs will train, and an
ETA from the sessions it trained itself.
"""

from __future__ import annotations

import time

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


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

    @property
    def trained(self) -> bool:
        """Whether this process trained a step of the run yet (sessions before: from a checkpoint)."""
        return self.trained_from is not None

    def elapsed(self) -> float:
        return time.perf_counter() - self.began

    def session(self, done: int, total: int) -> str:
        """'session 3/10 done, 2m10s elapsed, ETA 5m00s'."""
        if not self.trained:  # sessions restored from a checkpoint
            return f"session {done}/{total} done (from the checkpoint), {duration(self.elapsed())} elapsed"
        spent = time.perf_counter() - self.trained_from
        return (f"session {done}/{total} done, {duration(self.elapsed())} elapsed, "
                f"{eta(spent, done - self.first, total - self.first)}")


class SessionCount:
    """The sessions of a sweep's runs: of each run (by its index), the sessions done and its
    total, which is ``expected`` until the run reports its own (a joint run trains one); and an
    ETA from the sessions trained since the count began. Sessions restored from a checkpoint are
    done but not trained: they do not speed the ETA up."""

    def __init__(self, expected: list[int]):
        self.began = time.perf_counter()
        self.totals = list(expected)
        self.done = [0] * len(expected)
        self.trained = 0

    def session(self, run: int, done: int, total: int, trained: bool) -> None:
        """Run ``run`` has ``done`` of its ``total`` sessions done; ``trained``: by its process
        (else restored from its checkpoint)."""
        if trained:
            self.trained += max(0, done - self.done[run])
        self.done[run], self.totals[run] = done, total

    def ended(self, run: int, finished: bool) -> None:
        """Run ``run`` ended: a finished run trained the sessions it did not report, a failed
        one trains no more."""
        if finished:
            self.trained += self.totals[run] - self.done[run]
            self.done[run] = self.totals[run]
        else:
            self.totals[run] = self.done[run]

    @property
    def total(self) -> int:
        return sum(self.totals)

    @property
    def completed(self) -> int:
        return sum(self.done)

    def elapsed(self) -> float:
        return time.perf_counter() - self.began

    def eta(self) -> str:
        """'ETA 5m00s' for the sessions left, at the pace of those trained so far."""
        left = self.total - self.completed
        return eta(self.elapsed(), self.trained, self.trained + left)

    def __str__(self) -> str:
        """'sessions 4/12'."""
        return f"sessions {self.completed}/{self.total}"


class SweepBar:
    """One rich bar of a sweep's sessions (:class:`SessionCount`) on ``console``, with the
    elapsed time and the ETA; nothing without a console or when ``disable``."""

    def __init__(self, console, count: SessionCount, description: str, disable: bool = False):
        self.count = count
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[sessions]}"),
                                 TimeElapsedColumn(), TextColumn("{task.fields[eta]}"),
                                 console=console, disable=disable or console is None)
        self.task = self.progress.add_task(description, total=count.total, sessions=str(count), eta=count.eta())

    def __enter__(self):
        self.progress.start()
        return self

    def update(self, description: str | None = None) -> None:
        """Redraw from the count; a new ``description`` if given."""
        self.progress.update(self.task, total=self.count.total, completed=self.count.completed,
                             sessions=str(self.count), eta=self.count.eta(), description=description)

    def __exit__(self, *exc):
        self.progress.stop()
