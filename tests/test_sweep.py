"""Sweeps: the grid, skipping finished runs, resuming interrupted ones, failures, the executors."""

import io
import json
import os
import queue
import sys

import pytest
from rich.console import Console

import fake_results
import fake_runs
from facebench import registry
from facebench.board.schema import ResultError
from facebench.run import sweep as sweeps
from facebench.cli import main
from facebench.run.runner import RunSpec
from facebench.run.sweep import SweepError, SweepReport, grid, local_slots, result_path, sweep

SCENARIO = "faceworld-quick"


def spec(strategy="er-rand", k=3, person="0", seed=0):
    return RunSpec(strategy, {} if k is None else {"buffer_size": k}, SCENARIO, person, seed)


def test_grid_gives_k_only_to_strategies_with_a_buffer():
    specs = grid(SCENARIO, ["naive", "er-rand"], [3, 5], "all", [0, 1])
    assert [(s.strategy, s.params, s.person, s.seed) for s in specs] == [
        ("naive", {}, "0", 0), ("naive", {}, "0", 1), ("naive", {}, "1", 0), ("naive", {}, "1", 1),
        *[("er-rand", {"buffer_size": k}, p, s) for k in (3, 5) for p in ("0", "1") for s in (0, 1)],
    ]
    assert {s.scenario for s in specs} == {SCENARIO}
    assert len(grid(SCENARIO, ["er-rand"], [3], ["1"], [7])) == 1
    with pytest.raises(registry.StrategyError, match="unknown strategy 'er-rnd'"):
        grid(SCENARIO, ["er-rnd"], [3])


def test_result_path_is_the_runners():
    path = result_path(spec("er-rand", 5, "1", 2), "/out")
    assert path.as_posix() == "/out/faceworld-quick/er-rand-k5/person1-seed2.json"


def test_the_grid_names_a_run_by_the_parameters_that_differ_from_the_defaults():
    [ewc] = grid(SCENARIO, ["ewc"], [3], ["0"], [0])
    assert ewc.params == ewc.defaults == {"ewc_lambda": 1e5, "decay_factor": 1.0}  # all recorded, none named
    assert result_path(ewc, "/out").as_posix() == "/out/faceworld-quick/ewc/person0-seed0.json"
    assert sweeps.label(ewc) == "ewc, person 0, seed 0"
    [latent] = grid(SCENARIO, ["latent-replay"], [3], ["0"], [0])
    assert latent.params == {"buffer_size": 3, "policy": "er-hull"}
    assert result_path(latent, "/out").parent.name == "latent-replay-k3"
    assert sweeps.label(latent) == "latent-replay buffer_size=3, person 0, seed 0"


def test_local_slots_never_exceed_the_cores(monkeypatch):
    monkeypatch.setattr(sweeps.os, "cpu_count", lambda: 4)
    assert local_slots(None, None) == (4, 1)
    assert local_slots(2, None) == (2, 2)
    assert local_slots(None, 4) == (1, 4)
    assert local_slots(1, 3) == (1, 3)
    for jobs, threads in ((3, 2), (5, None), (1, 5)):
        with pytest.raises(SweepError, match="do not fit 4 cores"):
            local_slots(jobs, threads)


def test_jobs_and_threads_are_at_least_one(tmp_path):
    for jobs, threads in ((0, 1), (1, 0)):
        with pytest.raises(SweepError, match="at least 1"):
            sweep([spec()], tmp_path, jobs=jobs, threads=threads, run=fake_runs.run)


@pytest.mark.slow  # starts processes or renders at scale: seconds each
def test_local_sweep_skips_resumes_and_reports_failures_in_real_processes(tmp_path):
    done, interrupted, fresh, broken = spec(person="0"), spec(person="1"), spec(k=5), spec("broken", None)
    result_path(done, tmp_path).parent.mkdir(parents=True)
    result_path(done, tmp_path).write_text("finished before")
    result_path(interrupted, tmp_path).with_suffix(".ckpt").write_text("after session 2")
    jobs = 1  # one worker: each spawned worker imports torch and avalanche, seconds on a busy machine
    screen = io.StringIO()
    report = sweep([done, interrupted, fresh, broken], tmp_path, jobs=jobs, run=fake_runs.run,
                   console=Console(file=screen, width=150))

    assert report.skipped == [done] and result_path(done, tmp_path).read_text() == "finished before"
    assert report.resumed == [interrupted]
    assert sorted(o.spec.person for o in report.finished if o.spec.params["buffer_size"] == 3) == ["1"]
    assert len(report.finished) == 2 and all(o.path == result_path(o.spec, tmp_path) for o in report.finished)
    records = {o.spec.params["buffer_size"]: json.loads(o.path.read_text()) for o in report.finished}
    assert records[3]["from_checkpoint"] == "after session 2" and records[5]["from_checkpoint"] is None
    assert all(r["resume"] for r in records.values())
    assert all(r["pid"] != os.getpid() for r in records.values())
    assert all(r["threads"] == os.cpu_count() // jobs for r in records.values())
    assert [(o.spec, o.path, o.error) for o in report.failed] == [
        (broken, None, "RuntimeError: cannot fine-tune person 0")]
    assert all(0 < o.seconds < report.seconds for o in report.finished)
    assert "1 already done, 2 finished, 1 failed" in screen.getvalue()
    lines = screen.getvalue().splitlines()  # not a terminal: a line per event, no bar
    cores = os.cpu_count()
    assert lines[0] == f"sweep: 3 runs to do (1 to resume), 1 already done; 1 process x {cores} thread{'s' * (cores != 1)}"
    assert sum(line.startswith("run ") for line in lines) == 3 and lines[-1].startswith("sweep done: 2 finished")


def test_a_result_that_a_ray_node_wrote_elsewhere_is_copied_under_out(tmp_path):
    document = fake_results.result()
    outcome = sweeps._collected(spec(), str(tmp_path), "/on/another/node/person0-seed0.json", json.dumps(document), 2.5)
    assert outcome.path == result_path(spec(), tmp_path) and json.loads(outcome.path.read_text()) == document


def test_a_node_result_that_is_not_a_valid_result_file_is_refused(tmp_path):
    with pytest.raises(ResultError, match="schema"):
        sweeps._collected(spec(), str(tmp_path), "/on/another/node/person0-seed0.json", '{"a": 1}', 2.5)
    assert not result_path(spec(), tmp_path).exists()


def test_ray_executor_without_ray_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(SweepError, match=r"pip install 'facebench\[ray\]'"):
        sweep([spec()], tmp_path, executor="ray", run=fake_runs.run)
    with pytest.raises(SweepError, match="unknown executor 'slurm'"):
        sweep([spec()], tmp_path, executor="slurm", run=fake_runs.run)


@pytest.mark.slow  # starts processes or renders at scale: seconds each
def test_ray_sweep_on_a_local_instance(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'facebench[ray]'")
    start = ray.init

    def init(*args, **kwargs):
        try:  # one CPU: the tasks run one at a time in one worker, one import of torch and avalanche
            return start(*args, num_cpus=1, **kwargs)
        except Exception as error:  # noqa: BLE001 - e.g. no shared memory in a sandbox
            pytest.skip(f"Ray cannot start a local instance here: {error}")

    monkeypatch.setattr(ray, "init", init)
    ray.cloudpickle.register_pickle_by_value(fake_runs)  # the workers need not import the tests
    try:
        report = sweep([spec(person="0"), spec(person="1"), spec("broken", None)], tmp_path, executor="ray",
                       run=fake_runs.run)
    finally:
        ray.cloudpickle.unregister_pickle_by_value(fake_runs)
    assert sorted(o.spec.person for o in report.finished) == ["0", "1"]
    records = [json.loads(o.path.read_text()) for o in report.finished]
    assert all(r["pid"] != os.getpid() and r["threads"] == 1 and r["resume"] for r in records)
    assert [o.error for o in report.failed] == ["RuntimeError: cannot fine-tune person 0"]


def test_sweep_command_runs_the_grid_and_reports_failures(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_sweep(specs, out, **options):
        seen.update(specs=specs, out=out, **options)
        failed = [sweeps.Outcome(specs[1], None, "OSError: disk full", None)]
        return SweepReport(skipped=specs[:1], finished=[], failed=failed)

    monkeypatch.setattr(sweeps, "sweep", fake_sweep)
    argv = ["sweep", "--scenario", SCENARIO, "--strategies", "er-rand,kmeans", "--buffer-sizes", "3,10",
            "--persons", "1", "--seeds", "0,1", "--out", str(tmp_path), "--jobs", "1"]
    assert main(argv) == 1
    assert len(seen["specs"]) == 8 and seen["jobs"] == 1 and seen["executor"] == "local"
    out = capsys.readouterr().out
    assert "8 runs: 1 already done, 0 finished (0 resumed), 1 failed" in out
    assert "failed: er-rand buffer_size=3, person 1, seed 1: OSError: disk full" in out


def test_a_sweep_to_a_log_prints_a_line_per_finished_run(tmp_path, monkeypatch):
    def fake_local(pending, out, run, jobs, threads, address, say=None):
        say("  er-rand buffer_size=3, person 0, seed 0: session 1/3 done, 1s elapsed, ETA 2s")
        yield sweeps.Outcome(pending[0], tmp_path / "a.json", None, 130.0)
        yield sweeps.Outcome(pending[1], None, "RuntimeError: no", None)

    monkeypatch.setattr(sweeps, "_local", fake_local)
    log = io.StringIO()
    report = sweep([spec(person="0"), spec(person="1")], tmp_path, jobs=1, threads=1, console=Console(file=log))
    lines = log.getvalue().splitlines()
    assert len(report.finished) == 1 and len(report.failed) == 1
    assert lines[0] == "sweep: 2 runs to do (0 to resume), 0 already done; 1 process x 1 thread"
    assert lines[1].startswith("  er-rand buffer_size=3, person 0, seed 0: session 1/3 done")
    assert lines[2].startswith("run 1/2, er-rand buffer_size=3, person 0, seed 0: finished in 2m10s; "
                               "(0 already done, 1 finished, 0 failed), ")
    assert "elapsed, ETA " in lines[2]
    assert lines[3].startswith("run 2/2, er-rand buffer_size=3, person 1, seed 0: failed (RuntimeError: no); "
                               "(0 already done, 1 finished, 1 failed)")
    assert lines[4].startswith("sweep done: 1 finished, 1 failed, 0 already done, in ")


def test_a_local_worker_reports_each_finished_session_as_a_line():
    events = queue.Queue()
    progress = sweeps._session_lines(events, spec(person="2"))
    progress("train", 1, 50)
    progress("session", 1, 10)
    assert events.get_nowait().startswith("  er-rand buffer_size=3, person 2, seed 0: session 1/10 done, ")
    seen = []
    events.put("a line")
    events.put(None)
    sweeps._relay(events, seen.append)
    assert seen == ["a line"]
