"""Progress as plain lines when output is not a terminal (facebench.progress), as `facebench run`
prints them; and the cheap start of the command (no torch, no Avalanche where none is needed)."""

import io
import json
import re
import subprocess
import sys

import pytest
from rich.console import Console

import fake_results
from facebench import progress
from facebench.cli import main


def test_durations_and_etas_read_as_a_person_writes_them():
    assert [progress.duration(s) for s in (0, 45.4, 130, 3780)] == ["0s", "45s", "2m10s", "1h03m"]
    assert progress.eta(120, 3, 10) == "ETA 4m40s" and progress.eta(5, 0, 10) == "ETA ?"


class Flushes(io.StringIO):
    def __init__(self):
        super().__init__()
        self.flushed = []

    def flush(self):
        self.flushed.append(self.getvalue())


def test_lines_only_where_the_output_is_not_a_terminal_each_flushed_at_once():
    log = Flushes()
    say = progress.Lines(Console(file=log))
    say("session 1/3 done")
    say("session 2/3 done")
    assert say.enabled and log.flushed == ["session 1/3 done\n", "session 1/3 done\nsession 2/3 done\n"]
    screen = io.StringIO()
    quiet = progress.Lines(Console(file=screen, force_terminal=True))
    quiet("nothing")
    assert not quiet.enabled and screen.getvalue() == ""
    assert not progress.Lines(None).enabled


def test_the_eta_counts_only_the_sessions_this_process_trained(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(progress.time, "perf_counter", lambda: now[0])
    clock = progress.SessionClock()
    assert clock.session(2, 10) == "session 2/10 done (from the checkpoint), 0s elapsed" and clock.timing is None
    now[0] = 130.0  # 30 s of anchors: not in the ETA
    clock.training(2)  # the first step
    now[0] = 150.0
    clock.training(2)  # the last step: 20 s of training, then 40 s evaluating sessions 0..2
    now[0] = 190.0
    # train 20 s, evaluate 40 / 3 s; sessions 3..9 left: 7 x 20 + (4 + ... + 10) x 40 / 3 = 793 s
    assert clock.session(3, 10) == "session 3/10 done, 1m30s elapsed, ETA 13m13s" and clock.timing == (20.0, 40.0)


def seconds(text: str) -> float:
    """The seconds of an 'ETA 51m20s' (``progress.duration``)."""
    parts = re.fullmatch(r"ETA (?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text).groups()
    return sum(int(part or 0) * unit for part, unit in zip(parts, (3600, 60, 1)))


@pytest.mark.parametrize("train", [0.0, 20.0])
def test_the_eta_weighs_each_session_by_the_sessions_it_evaluates(monkeypatch, train):
    """Session t trains for ``train`` s (4 steps) and evaluates sessions 0..t for 60 s each: after
    3 of 10 sessions the ETA is within 3% of the 7 x train + (4 + ... + 10) x 60 s left, where
    equal parts say a third of it; a sweep of two such runs side by side, the same."""
    now = [0.0]
    monkeypatch.setattr(progress.time, "perf_counter", lambda: now[0])
    truth = 7 * train + 49 * 60
    clock, count = progress.SessionClock(), progress.SessionCount([10, 10])
    for t in range(3):
        for _ in range(4):
            now[0] += train / 4
            clock.training(t)
        now[0] += (t + 1) * 60
        line = clock.session(t + 1, 10)
        for run in (0, 1):  # two runs in parallel, timed alike
            count.session(run, t + 1, 10, clock.timing)
    ours, equal = seconds(line.rsplit(", ", 1)[1]), seconds(progress.eta(now[0], 3, 10))
    assert abs(ours - truth) < 0.03 * truth and abs(equal - truth) > 0.5 * truth
    assert abs(seconds(count.eta()) - truth) < 0.03 * truth


def test_run_prints_a_line_per_event_to_a_log(tmp_path, monkeypatch, capsys):
    result = fake_results.write(fake_results.result("er-rand", 3), tmp_path)

    def fake_run(spec, out, resume=False, force=False, progress=None, device=None):
        for session in range(3):
            for step in (1, 2):
                progress("train", step, 2)
            progress("session", session + 1, 3)
        return result

    monkeypatch.setattr("facebench.run.runner.run", fake_run)
    assert main(["run", "--strategy", "er-rand", "--buffer-size", "3", "--scenario", "faceworld-quick",
                 "--person", "1", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "run: er-rand buffer_size=3 on faceworld-quick, person 1, seed 0"
    assert lines[1].startswith("anchors ready, ") and lines[1].endswith("; training session 1/3")
    assert lines[2].startswith("session 1/3: 2 steps trained, evaluating, ")
    assert lines[3].startswith("session 1/3 done, ") and "elapsed, ETA " in lines[3]
    assert lines[7].startswith("session 3/3 done, ") and lines[7].endswith("ETA 0s")
    assert lines[8].startswith("run done: er-rand buffer_size=3, person 1, seed 0, ")
    assert lines[8].endswith(f"; result: {result}")


def test_importing_the_command_imports_neither_torch_nor_avalanche():
    code = ("import sys, facebench.cli; "
            "print(sorted(m for m in ('torch', 'avalanche', 'torchvision', 'facebench.run.kinds') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.replace("'", '"')) == []
