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
from facebench import progress, registry
from facebench.board.schema import ResultError
from facebench.run import sweep as sweeps
from facebench.cli import main
from facebench.run.runner import RunError, RunSpec
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
    outcome = sweeps.collected(spec(), str(tmp_path), "/on/another/node/person0-seed0.json", json.dumps(document), 2.5)
    assert outcome.path == result_path(spec(), tmp_path) and json.loads(outcome.path.read_text()) == document


def test_a_node_result_that_is_not_a_valid_result_file_is_refused(tmp_path):
    with pytest.raises(ResultError, match="schema"):
        sweeps.collected(spec(), str(tmp_path), "/on/another/node/person0-seed0.json", '{"a": 1}', 2.5)
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
    def fake_local(pending, out, run, on_session, **options):
        on_session((0, 1, 3, (0.5, 0.5), "  er-rand buffer_size=3, person 0, seed 0: session 1/3 done, 1s elapsed, "
                                           "ETA 2s"))
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
                               "(0 already done, 1 finished, 0 failed), sessions 3/6, ")
    assert "elapsed, ETA " in lines[2]
    assert lines[3].startswith("run 2/2, er-rand buffer_size=3, person 1, seed 0: failed (RuntimeError: no); "
                               "(0 already done, 1 finished, 1 failed), sessions 3/3, ")
    assert lines[4].startswith("sweep done: 1 finished, 1 failed, 0 already done, in ")


def test_a_worker_reports_each_finished_session_as_an_event():
    events = queue.Queue()
    progress = sweeps._session_events(events, 4, spec(person="2"))
    progress("session", 1, 10)  # restored from a checkpoint: done, not trained
    progress("train", 1, 50)
    progress("session", 2, 10)
    restored, trained = events.get_nowait(), events.get_nowait()
    assert restored[:4] == (4, 1, 10, None)  # no timing: not trained here
    assert trained[:3] == (4, 2, 10) and len(trained[3]) == 2 and min(trained[3]) >= 0  # (training, evaluation) s
    assert trained[4].startswith("  er-rand buffer_size=3, person 2, seed 0: session 2/10 done, ")
    seen = []
    events.put("an event")
    sweeps.drain(events, seen.append)
    sweeps.drain(None, seen.append)
    assert seen == ["an event"] and events.empty()


def run_on_device(spec, out, resume=False, force=False, progress=None, device=None):
    """``fake_runs.run`` that also records the device it was given."""
    path = fake_runs.run(spec, out, resume, force, progress)
    path.write_text(json.dumps({**json.loads(path.read_text()), "device": device}))
    return path


@pytest.mark.slow  # starts processes or renders at scale: seconds each
def test_the_sweeps_device_reaches_every_local_run(tmp_path):
    report = sweep([spec(person="0"), spec(person="1")], tmp_path, jobs=1, threads=1, run=run_on_device, device="cpu")
    assert [json.loads(o.path.read_text())["device"] for o in report.finished] == ["cpu", "cpu"]


def test_a_local_sweep_checks_its_device_and_takes_no_working_directory(tmp_path):
    with pytest.raises(RunError, match="no cuda:7 device on this machine"):
        sweep([spec()], tmp_path, device="cuda:7", run=fake_runs.run)
    with pytest.raises(SweepError, match="a working directory is for Ray's nodes"):
        sweep([spec()], tmp_path, working_dir=tmp_path, run=fake_runs.run)
    with pytest.raises(SweepError, match="--ray-working-dir .*nowhere: no such folder"):
        sweep([spec()], tmp_path, executor="ray", working_dir=tmp_path / "nowhere", run=fake_runs.run)


def test_sweep_command_passes_the_device_and_the_ray_working_directory(tmp_path, monkeypatch):
    seen = {}

    def fake_sweep(specs, out, **options):
        seen.update(options, auth=os.environ.get("RAY_AUTH_MODE"))
        return SweepReport(finished=[])

    monkeypatch.setattr(sweeps, "sweep", fake_sweep)
    monkeypatch.setenv("RAY_AUTH_MODE", "set only to be undone")  # undone after the test, whatever the command set
    monkeypatch.delenv("RAY_AUTH_MODE")
    argv = ["sweep", "--scenario", SCENARIO, "--strategies", "naive", "--persons", "0", "--out", str(tmp_path)]
    monkeypatch.setenv("FACEBENCH_DEVICE", "cuda:1")
    assert main(argv) == 0 and seen["device"] == "cuda:1" and seen["working_dir"] is None
    monkeypatch.delenv("FACEBENCH_DEVICE")
    assert main(argv) == 0 and seen["device"] == "cpu" and seen["auth"] is None
    assert main([*argv, "--device", "cuda", "--executor", "ray", "--ray-working-dir", str(tmp_path)]) == 0
    assert seen["device"] == "cuda" and seen["working_dir"] == str(tmp_path) and seen["executor"] == "ray"
    assert seen["auth"] == "token"  # a local Ray instance: Ray's default stated, so Ray does not warn of it


def test_a_sweep_counts_sessions_with_an_eta_from_those_it_trained(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(progress.time, "perf_counter", lambda: now[0])
    count = progress.SessionCount([3, 3, 3])
    assert (str(count), count.eta()) == ("sessions 0/9", "ETA ?")
    count.session(0, 2, 3, timing=None)  # restored from a checkpoint: done, not trained
    now[0] = 60.0
    count.session(0, 3, 3, timing=(10.0, 30.0))  # session 2: 10 s of training, 3 evaluations in 30 s
    count.session(1, 1, 1, timing=(10.0, 10.0))  # a joint run: one session, not three
    # train 10 s, evaluate 40 / 4 = 10 s: the 2 sessions trained cost 20 + 40 s in 60 s, run 2's 3 cost 30 + 60 s
    assert (str(count), count.eta()) == ("sessions 4/7", "ETA 1m30s")
    count.ended(2, finished=False)  # failed before its first session: nothing more to train
    count.ended(0, finished=True)
    assert str(count) == "sessions 4/4" and count.eta() == "ETA 0s"


def test_the_sweep_bar_counts_sessions_with_an_eta(tmp_path, monkeypatch):
    def fake_local(pending, out, run, on_session, **options):
        for index, spec_ in enumerate(pending):
            for done in (1, 2, 3):
                on_session((index, done, 3, (1.0, 1.0), f"  {sweeps.label(spec_)}: session {done}/3 done"))
            yield sweeps.Outcome(spec_, tmp_path / f"{index}.json", None, 1.0)

    monkeypatch.setattr(sweeps, "_local", fake_local)
    screen = io.StringIO()
    report = sweep([spec(person="0"), spec(person="1")], tmp_path, jobs=1, threads=1,
                   console=Console(file=screen, force_terminal=True, width=150))
    assert len(report.finished) == 2
    text = screen.getvalue()
    assert "runs (0 already done, 2 finished, 0 failed)" in text and "sessions 6/6" in text and "ETA 0s" in text
    assert "session 1/3 done" not in text  # a terminal: the bar, no lines


def test_the_expected_sessions_are_the_persons_and_one_for_a_joint_run():
    assert sweeps.expected_sessions(spec(person="1")) == 3
    assert sweeps.expected_sessions(spec("joint-so-far", k=None, person="1")) == 3
    assert sweeps.expected_sessions(spec("joint", k=None, person="1")) == 1  # was 3 until it reported: a long ETA
    assert sweeps.expected_sessions(spec(person="9")) == 0  # no such person: the run fails
    assert sweeps.expected_sessions(spec("only-on-a-node", k=None, person="1")) == 3
