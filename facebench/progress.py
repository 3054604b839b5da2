"""Progress as plain lines, one per event, for output that is not a terminal (a log, a pipe),
and the ETA's cost model of sessions.

On a terminal, ``facebench run`` and ``facebench sweep`` draw a rich progress bar; elsewhere a
bar shows nothing until the end, so they print a line per event instead (:class:`Lines`), each
flushed at once: a run's start, each finished session with the elapsed time and an ETA
(:class:`SessionClock`), its evaluation, its end; a sweep's start, each finished session of
each of its runs, wherever it runs, and each finished run.

A sweep counts sessions (:class:`SessionCount`), not only finished runs: its bar
(:class:`SweepBar`) and its lines show the sessions done of those its runs will train, and an
ETA from the sessions it trained itself.

Both ETAs weigh each session left by its cost (:class:`SessionCost`): after session t a run
evaluates every session it has seen, so late sessions cost more than early ones.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

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


def eta(seconds: float, done: float, total: float) -> str:
    """'ETA 5m00s' from ``seconds`` spent on ``done`` of ``total`` units of work (sessions, or
    their costs); 'ETA ?' before any is done."""
    if done <= 0:
        return "ETA ?"
    return f"ETA {duration(seconds / done * max(0, total - done))}"


@dataclass(frozen=True)
class Sessions:
    """A number of sessions of runs, and the session evaluations they run: after session t
    (0-based) a run evaluates the t + 1 sessions 0..t, so session t runs t + 1 of them."""

    count: int = 0
    evaluations: int = 0

    @classmethod
    def span(cls, first: int, last: int) -> Sessions:
        """Sessions t = first .. last - 1 of one run: last - first sessions and
        sum(t + 1) = (last (last + 1) - first (first + 1)) / 2 evaluations; none if last <= first."""
        if last <= first:
            return cls()
        return cls(last - first, (last * (last + 1) - first * (first + 1)) // 2)

    def __add__(self, other: Sessions) -> Sessions:
        return Sessions(self.count + other.count, self.evaluations + other.evaluations)


class SessionCost:
    """The cost model that weighs a session's share of an ETA. Session t (0-based) of a run costs

        cost(t) = train + (t + 1) * evaluate    seconds,

    ``train`` the seconds of one session's training (every session trains the same steps) and
    ``evaluate`` the seconds of evaluating one seen session (protocol v2 evaluates sessions 0..t
    after session t, each from the encoder for the same steps). Sessions ``s`` (:class:`Sessions`)
    cost ``train * s.count + evaluate * s.evaluations``.

    Both units are estimated from the sessions timed so far (:meth:`timed`): ``train`` = their
    training seconds / their number, ``evaluate`` = their evaluation seconds / their
    evaluations. Until the timed sessions took any time, every session costs the same
    (``train`` 1, ``evaluate`` 0): the ETA of equal parts.

    The model is exact for the sequential and cumulative kinds; a joint-so-far session's
    training grows with t as well (the ETA is short of it early on), and a joint run's one
    experience evaluates every session (costed here as session 0).
    """

    def __init__(self):
        self.timed_sessions = Sessions()
        self.train_s = 0.0
        self.eval_s = 0.0

    def timed(self, t: int, train_s: float, eval_s: float) -> None:
        """Session ``t`` trained in ``train_s`` and evaluated (buffer selection included) in
        ``eval_s`` seconds."""
        self.timed_sessions += Sessions.span(t, t + 1)
        self.train_s += train_s
        self.eval_s += eval_s

    def units(self) -> tuple[float, float]:
        """(``train``, ``evaluate``): seconds of a session's training and of one evaluation."""
        if self.train_s + self.eval_s <= 0:
            return 1.0, 0.0
        timed = self.timed_sessions
        return self.train_s / timed.count, self.eval_s / timed.evaluations

    def of(self, sessions: Sessions) -> float:
        """The cost of ``sessions``: seconds, or sessions while every session costs the same."""
        train, evaluate = self.units()
        return train * sessions.count + evaluate * sessions.evaluations


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
    """Elapsed time and ETA of a run from its progress events: :meth:`training` at every
    training step, :meth:`session` at every finished session (sessions done, of total).

    The ETA counts only the sessions this process trained, from the first step: neither the
    anchors' computation nor the sessions of a resumed checkpoint make it wrong. It weighs the
    sessions left by their cost (:class:`SessionCost`), from the sessions timed so far: a
    session's training from its start (the end of the session before, or the first step) to
    its last step, its evaluation from there to its end. ``timing``: (training, evaluation)
    seconds of the last session, None when it was restored from a checkpoint."""

    def __init__(self):
        self.began = time.perf_counter()
        self.trained_from: float | None = None
        self.first = 0  # sessions done before this process trained any
        self.cost = SessionCost()
        self.session_from = 0.0  # when the session in training began
        self.last_step = 0.0
        self.timing: tuple[float, float] | None = None

    def training(self, done_before: int) -> None:
        """Call at every training step; ``done_before``: the sessions done already."""
        now = time.perf_counter()
        if self.trained_from is None:
            self.trained_from = self.session_from = now
            self.first = done_before
        self.last_step = now

    @property
    def trained(self) -> bool:
        """Whether this process trained a step of the run yet (sessions before: from a checkpoint)."""
        return self.trained_from is not None

    def elapsed(self) -> float:
        return time.perf_counter() - self.began

    def session(self, done: int, total: int) -> str:
        """'session 3/10 done, 2m10s elapsed, ETA 5m00s'."""
        if not self.trained:  # sessions restored from a checkpoint
            self.timing = None
            return f"session {done}/{total} done (from the checkpoint), {duration(self.elapsed())} elapsed"
        now = time.perf_counter()
        self.timing = (self.last_step - self.session_from, now - self.last_step)
        self.cost.timed(done - 1, *self.timing)
        self.session_from = now
        spent = self.cost.of(Sessions.span(self.first, done))
        return (f"session {done}/{total} done, {duration(self.elapsed())} elapsed, "
                f"{eta(now - self.trained_from, spent, spent + self.cost.of(Sessions.span(done, total)))}")


class SessionCount:
    """The sessions of a sweep's runs: of each run (by its index), the sessions done and its
    total, which is ``expected`` until the run reports its own (``facebench.run.sweep.expected_sessions``); and an
    ETA: the seconds since the count began per cost of the sessions trained since
    (:class:`SessionCost`, from the timings the runs report), times the cost of the sessions
    left. Sessions restored from a checkpoint are done but not trained: they do not speed the
    ETA up."""

    def __init__(self, expected: list[int]):
        self.began = time.perf_counter()
        self.totals = list(expected)
        self.done = [0] * len(expected)
        self.trained = Sessions()
        self.cost = SessionCost()

    def session(self, run: int, done: int, total: int, timing: tuple[float, float] | None) -> None:
        """Run ``run`` has ``done`` of its ``total`` sessions done; ``timing``: (training,
        evaluation) seconds of session ``done`` - 1 if the run's process trained it
        (``SessionClock.timing``), None if it was restored from its checkpoint."""
        if timing is not None:
            self.trained += Sessions.span(self.done[run], done)
            self.cost.timed(done - 1, *timing)
        self.done[run], self.totals[run] = done, total

    def ended(self, run: int, finished: bool) -> None:
        """Run ``run`` ended: a finished run trained the sessions it did not report, a failed
        one trains no more."""
        if finished:
            self.trained += Sessions.span(self.done[run], self.totals[run])
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
        """'ETA 5m00s' for the sessions left, at the pace of those trained so far, each weighed
        by its cost."""
        left = sum((Sessions.span(done, total) for done, total in zip(self.done, self.totals)), Sessions())
        trained = self.cost.of(self.trained)
        return eta(self.elapsed(), trained, trained + self.cost.of(left))

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
