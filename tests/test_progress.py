"""Progress as plain lines when output is not a terminal (facebench.progress), as `facebench run`
prints them; and the cheap start of the command (no torch, no Avalanche where none is needed)."""

import io
import json
import subprocess
import sys

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
    assert clock.session(2, 10) == "session 2/10 done (from the checkpoint), 0s elapsed"
    now[0] = 130.0  # 30 s of anchors: not in the ETA
    clock.training(2)
    now[0] = 190.0
    assert clock.session(3, 10) == "session 3/10 done, 1m30s elapsed, ETA 7m00s"


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
