"""The ``facebench`` command: parses arguments, calls the library, prints with rich.

Each command group adds itself in its own ``_add_<group>_commands(subparsers)``, listed in
:data:`COMMAND_GROUPS`. A command is a function ``(args) -> int | None`` set as the parser
default ``run``; None means success. A :class:`~facebench.errors.FacebenchError` or an OSError
ends the command with one red line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os

from rich.console import Console
from rich.text import Text

import facebench
from facebench import style
from facebench.errors import FacebenchError

console = Console()


def _add_scenario_commands(subparsers) -> None:
    parser = subparsers.add_parser("scenarios", help="list the scenario cards and their sizes")
    parser.add_argument(
        "cards", nargs="*", metavar="CARD", help="card names or paths (default: the stock cards)"
    )
    parser.set_defaults(run=_scenarios)


def _scenarios(args) -> None:
    from facebench.data.cards import stock_cards
    from facebench.data import load_scenario

    scenarios = [load_scenario(card) for card in args.cards or stock_cards()]
    table = style.table("scenario cards")
    table.add_column("scenario", no_wrap=True)
    for column in ("persons", "sessions", "train+test", "images", "px"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("source", no_wrap=True)
    for scenario in scenarios:
        persons = scenario.counts()
        sessions = [session for person in persons.values() for session in person]
        source = scenario.card.data["source"]
        if source["kind"] == "faceworld":
            detail = f"world {source['world_seed']}" + (", life" if source.get("life") else "")
        else:
            detail = f"folder {source['root']}"
        table.add_row(
            scenario.name,
            str(len(persons)),
            _span([len(person) for person in persons.values()]),
            f"{_span([train for train, _ in sessions])}+{_span([test for _, test in sessions])}",
            str(sum(train + test for train, test in sessions)),
            str(scenario.card.data["resolution"]),
            detail,
        )
    console.print(table)
    for scenario in scenarios:
        if scenario.card.data["description"]:
            console.print(f"  {scenario.name}: {scenario.card.data['description']}", markup=False)


def _span(values: list[int]) -> str:
    """'20' when all values are 20, '3-5' when they range from 3 to 5."""
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def positive_integer(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def seed(text: str) -> int:
    """An argparse type: a run seed (``facebench.run.runner.check_seed``)."""
    from facebench.run.runner import RunError, check_seed

    try:
        return check_seed(int(text))
    except (RunError, ValueError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def device(text: str) -> str:
    """An argparse type: a torch device this machine has (``facebench.run.runner.check_device``)."""
    from facebench.run.runner import RunError, check_device

    try:
        return check_device(text)
    except RunError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_data_commands(subparsers) -> None:
    data = subparsers.add_parser("data", help="look at a scenario's images; import photos")
    commands = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    preview = commands.add_parser(
        "preview", help="write a contact sheet: one row of train frames per session"
    )
    preview.add_argument("--scenario", default="faceworld", help="card name or path")
    preview.add_argument("--person", default="0", help="person id")
    preview.add_argument("--frames", type=positive_integer, default=6, help="train frames per session")
    preview.add_argument(
        "-o", "--output", default=None, help="PNG file (default: <scenario>-person<person>.png)"
    )
    preview.set_defaults(run=_preview)
    _add_import_command(commands)
    _add_geometry_command(commands)


def _preview(args) -> None:
    from facebench.data import load_scenario
    from facebench.data.preview import person_sheet

    scenario = load_scenario(args.scenario)
    output = args.output or f"{scenario.name}-person{args.person}.png"
    sheet = person_sheet(scenario, args.person, frames=args.frames)
    sheet.save(output)
    sessions = len(scenario.sessions(args.person))
    console.print(
        f"wrote {output}: {scenario.name}, person {args.person}, "
        f"a row of train frames for each of the {sessions} sessions",
        markup=False,
        soft_wrap=True,
    )


def _add_geometry_command(commands) -> None:
    parser = commands.add_parser(
        "geometry", help="how a person's sessions sit in W and in pixels: distances, effective dimension, "
                         "and how near a K-buffer of the other sessions comes to each (facebench.data.geometry)"
    )
    parser.add_argument("--scenario", default="faceworld", help="card name or path")
    parser.add_argument("--person", default="0", help="person id")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the report as JSON")
    parser.add_argument("--plot", default=None, metavar="PATH", help="also draw the report's plot (PNG)")
    parser.set_defaults(run=_geometry)


def _geometry(args) -> None:
    import json

    from facebench.data import geometry, load_scenario

    report = geometry.person_geometry(load_scenario(args.scenario), args.person)
    for table in geometry.tables(report):
        console.print(table)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(geometry.as_json(report), file, indent=1)
        console.print(f"wrote {args.json}", markup=False, soft_wrap=True)
    if args.plot:
        console.print(f"wrote {geometry.plot(report, args.plot)}", markup=False, soft_wrap=True)


def _add_import_command(commands) -> None:
    parser = commands.add_parser(
        "import", help="FFHQ-align a folder of photos into a card's folder, with a report of what was left out"
    )
    parser.add_argument("photos", metavar="PHOTOS", help="the photos: PHOTOS/<person>/<session>/<photo>")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="the folder to write: DIR/<person>/<session>/{train,test}/, a card, import-report.json")
    parser.add_argument("--resolution", type=positive_integer, default=64,
                        help="image side in pixels, a card's: 32 to 256 (default: 64, the shipped models')")
    parser.add_argument("--test-fraction", type=float, default=0.5, metavar="F",
                        help="the share of each session's photos held out as test images, spread evenly in "
                        "name order (default: 0.5, alternating)")
    parser.add_argument("--force", action="store_true", help="replace DIR, if an earlier import wrote it")
    parser.set_defaults(run=_import)


def _import(args) -> None:
    from rich.progress import Progress

    from facebench.data.photos import NothingImported, import_photos

    try:
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("aligning photos", total=None)

            def progress(done, total):
                bar.update(task, completed=done, total=total)

            report = import_photos(args.photos, args.out, args.resolution, args.test_fraction, args.force, progress)
    except NothingImported as nothing:
        _print_left_out(nothing.report)
        raise
    _print_left_out(report)
    console.print(f"{report.summary()}; run it: facebench run --scenario {report.card} --strategy ...",
                  markup=False, soft_wrap=True)


def _print_left_out(report) -> None:
    """The photos an import left out, as a table (nothing where none was)."""
    if not report.left_out:
        return
    table = style.table(f"left out of {report.photos}")
    for column in ("photo", "reason", "detail"):
        table.add_column(column, overflow="fold")
    for item in report.left_out:
        table.add_row(item.photo, item.reason, item.detail)
    console.print(table)


def _add_model_commands(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list the model zoo's cards")
    parser.set_defaults(run=_models)
    parser = subparsers.add_parser("pretrain", help="pretrain a zoo model on the FaceWorld population")
    parser.add_argument("kind", choices=("identity", "perceptual", "generator"),
                        help="which model (generator also writes the encoder; it needs the perceptual and identity assets)")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the job's)")
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--threads", type=positive_integer, default=1, help="torch CPU threads")
    parser.add_argument("--resolution", type=int, default=64, help="image size in pixels")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    parser.add_argument("--out", default=None, help="zoo folder to write (default: the package's zoo)")
    parser.set_defaults(run=_pretrain)


def _models(args) -> None:
    from facebench.models.zoo import cards, zoo_dir

    table = style.table(f"model zoo ({zoo_dir()})")
    for column in ("model", "px", "params", "MB", "trained", "figures", "sha256", "command"):
        table.add_column(column, overflow="fold")
    for card in cards():
        table.add_row(card["name"], str(card["resolution"]), f"{card['parameters']:,}",
                      f"{card['size_bytes'] / 1e6:.2f}", f"{card['train_seconds'] / 60:.0f} min",
                      card.get("summary", ""), card["sha256"][:12], card["command"])
    console.print(table)


def _pretrain(args) -> int | None:
    from facebench.models.pretrain import pretrain

    try:
        written = pretrain(args.kind, steps=args.steps, seed=args.seed, threads=args.threads,
                           resolution=args.resolution, resume=args.resume, folder=args.out, console=console)
    except KeyboardInterrupt as stop:
        console.print(Text(str(stop) or "interrupted", style="yellow"))
        return 130
    for card in written:
        console.print(f"wrote {card['file']} ({card['sha256'][:12]}): {card.get('summary', '')}", markup=False)
    return None


def _add_leaderboard_commands(subparsers) -> None:
    parser = subparsers.add_parser(
        "sweep", help="run a grid of runs (strategies x K x persons x seeds); finished ones are skipped"
    )
    parser.add_argument("--scenario", default="faceworld", help="card name or path")
    parser.add_argument("--strategies", required=True, type=_names, help="comma-separated strategy names")
    parser.add_argument("--buffer-sizes", type=_integers, default=[3, 5, 10],
                        help="K values of the strategies that take a buffer_size (default 3,5,10)")
    parser.add_argument("--persons", default="all", help="'all' or comma-separated person ids")
    parser.add_argument("--seeds", type=_integers, default=[0], help="comma-separated seeds (default 0)")
    parser.add_argument("--out", default="runs", help="result folder; files go to OUT/<scenario>/...")
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument("--jobs", type=int, default=None,
                        help="local worker processes (default: the cores // threads)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per run (default: the cores // jobs locally, 1 on Ray)")
    parser.add_argument("--address", default=None,
                        help="Ray cluster address, e.g. auto on a node of a cluster (default: a local Ray instance)")
    parser.add_argument("--device", default=None,
                        help="torch device of every run, e.g. cuda: several runs share one GPU (default: "
                             "$FACEBENCH_DEVICE, else cpu); recorded in each result")
    parser.add_argument("--ray-working-dir", default=None, metavar="DIR",
                        help="Ray only: a folder shipped to every node as the tasks' working directory, first on "
                             "their Python path: a plugin's checkout whose latest code the nodes should run, or this "
                             "checkout (or its strategies/), whose strategy files the nodes then import")
    parser.set_defaults(run=_sweep)

    parser = subparsers.add_parser("leaderboard",
                                   help="rank the result files under DIR, or --check them, or --migrate them")
    parser.add_argument("dir", metavar="DIR", help="a scenario's result folder")
    parser.add_argument("--format", choices=("table", "md", "csv", "json", "html"), default="table",
                        help="what to print (all are written to OUT); html: also write OUT/leaderboard.html, one "
                             "self-contained page (table, plots, findings), and print its path")
    parser.add_argument("--out", default=None,
                        help="folder for LEADERBOARD.md, leaderboard.csv, leaderboard.json, plots/ (default: DIR)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", action="store_true",
                        help="validate every result file, one line per problem (exit 1 on any); show the code "
                             "behind each method (commits, dirty, strategy source hashes, packages); warn of "
                             "files run with other threads, device or CPU than the rest, and of a method whose "
                             "files come from more than one strategy source")
    action.add_argument("--migrate", action="store_true",
                        help="rewrite every facebench.result/1, /2 and /3 file as facebench.result/4, in place, "
                             "record each file's strategy defaults and move it to the folder its parameters "
                             "that differ from them name; exit 1 if one cannot be")
    parser.set_defaults(run=_leaderboard)

    parser = subparsers.add_parser(
        "compare", help="where a new method's results would rank on a board, and better, worse or cannot tell "
                        "against each baseline, over the (person, seed) pairs they share")
    parser.add_argument("mine", metavar="MY_RESULTS", help="folder of the new method's result files")
    parser.add_argument("--against", required=True, metavar="DIR", help="the board's result folder")
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="text, one line per baseline (default), or JSON")
    parser.add_argument("--json", action="store_const", const="json", dest="format", help="the same as --format json")
    parser.add_argument("--all", action="store_true",
                        help="every board column, not only the primary one (the others are exploratory)")
    parser.set_defaults(run=_compare)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _integers(text: str) -> list[int]:
    try:
        return [int(value) for value in _names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got '{text}'") from None


def _sweep(args) -> int | None:
    from facebench.run.sweep import grid, label, sweep

    try:  # its parser is declared with the leaderboard's commands; the seeds are checked here, before any work
        for value in args.seeds:
            seed(str(value))
    except argparse.ArgumentTypeError as error:
        raise FacebenchError(f"--seeds: {error}") from None
    if args.executor == "ray" and args.address is None:
        # A local Ray instance: state Ray's own default, token authentication, before Ray is imported
        # (it reads the setting then), so that Ray does not warn of its default at every sweep.
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    persons = "all" if args.persons == "all" else _names(args.persons)
    specs = grid(args.scenario, args.strategies, args.buffer_sizes, persons, args.seeds)
    try:
        report = sweep(specs, args.out, executor=args.executor, jobs=args.jobs, threads=args.threads,
                       address=args.address, console=console,
                       device=args.device or os.environ.get("FACEBENCH_DEVICE") or "cpu",
                       working_dir=args.ray_working_dir)
    except KeyboardInterrupt:
        console.print(Text("interrupted: the same command resumes the sweep", style="yellow"))
        return 130
    console.print(f"{len(specs)} run{'s' * (len(specs) != 1)}: {len(report.skipped)} already done, "
                  f"{len(report.finished)} finished ({len(report.resumed)} resumed), {len(report.failed)} failed; "
                  f"{report.seconds / 60:.1f} min", markup=False)
    for outcome in report.failed:
        console.print(Text(f"failed: {label(outcome.spec)}: {outcome.error}", style="red"), soft_wrap=True)
    return 1 if report.failed else None


def _leaderboard(args) -> int | None:
    from facebench.board import load as leaderboard, render as tables

    if args.migrate:
        from facebench.board.migrate import REFUSED, migrate, summary

        done = migrate(args.dir)
        for migration in done:
            for line in migration.lines():
                console.print(Text(line, style="red" if migration.outcome == REFUSED else ""), soft_wrap=True)
        console.print(summary(done), markup=False, soft_wrap=True)
        return 1 if any(migration.outcome == REFUSED for migration in done) else None
    if args.check:
        from facebench.board.provenance import code_table, method_code, mixed_lines

        audit = leaderboard.audit(args.dir)
        for line in audit.problems:
            console.print(Text(line, style="red"), soft_wrap=True)
        codes = method_code(audit.valid)
        if codes:
            console.print(code_table(codes))
        files = len(leaderboard.result_files(args.dir))
        if audit.problems:
            count = f"{len(audit.problems)} problem" + ("s" if len(audit.problems) > 1 else "")
            console.print(Text(f"{count} in {files} result files", style="red"))
            return 1
        console.print(f"{files} result files, all valid", markup=False)
        for line in audit.warnings + mixed_lines(codes):
            console.print(Text(f"warning: {line}", style="yellow"), soft_wrap=True)
        return None
    board = leaderboard.load(args.dir)
    table = tables.board_table(board)
    written = tables.write_board(board, table, args.out or args.dir)
    if args.format == "table":
        console.print(tables.rich_table(board, table))
    elif args.format == "html":
        from facebench.board.html import write_html

        written.append(write_html(board, table, args.out or args.dir, source=args.dir))
        print(written[-1])
    else:
        text = {"md": tables.markdown, "json": tables.as_json}.get(args.format)
        print(text(board, table) if text else tables.csv(table), end="")
    _warn_skipped(board)
    Console(stderr=True).print(f"wrote {len(written)} files to {args.out or args.dir}", markup=False)
    return None


def _warn_skipped(board) -> None:
    from facebench.board.render import skipped_lines

    for line in skipped_lines(board):
        Console(stderr=True).print(Text(line, style="yellow"), soft_wrap=True)


def _compare(args) -> None:
    from facebench.board import render as tables
    from facebench.board.compare import compare

    comparison = compare(args.mine, against=args.against)
    if args.format == "json":
        print(tables.comparison_json(comparison, all_columns=args.all), end="")
    else:
        for index, block in enumerate(tables.comparison_tables(comparison, width=console.width, all_columns=args.all)):
            if index:
                console.print()
            console.print(block, soft_wrap=True)  # lines are fitted to the width: never wrapped inside a number
    _warn_skipped(comparison.mine)
    _warn_skipped(comparison.board)


def _add_run_commands(subparsers) -> None:
    parser = subparsers.add_parser("run", help="fine-tune through a person's stream with a strategy; write a result file")
    parser.add_argument("--strategy", required=True, help="strategy name (see `facebench strategies`)")
    parser.add_argument("--buffer-size", type=int, default=None, metavar="K",
                        help="K, the most items a replay buffer holds (replay strategies only)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="another strategy parameter (repeatable)")
    parser.add_argument("--scenario", default="faceworld", help="card name or path (default: faceworld)")
    parser.add_argument("--person", default="0", help="person id, or 'all' (default: 0)")
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--out", default="runs", help="result folder; files go to OUT/<scenario>/... (default: runs)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run from its checkpoint")
    parser.add_argument("--force", action="store_true", help="overwrite an existing result file")
    parser.add_argument("--threads", type=positive_integer, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--device", type=device, default=None,
                        help="torch device, e.g. cuda (default: $FACEBENCH_DEVICE, else cpu); recorded in the result")
    parser.set_defaults(run=_run)

    parser = subparsers.add_parser("verify", help="rerun the run a result file describes and compare every score "
                                                  "with the file, within the protocol's tolerances")
    parser.add_argument("result", metavar="RESULT",
                        help="a result file of this protocol version, or a board's folder with --sample")
    parser.add_argument("--sample", type=positive_integer, default=None, metavar="N",
                        help="RESULT is a folder: rerun N of its result files of this protocol version, drawn at random")
    parser.add_argument("--sample-seed", type=int, default=0, metavar="S",
                        help="the draw of --sample (default 0; the same seed draws the same files)")
    parser.add_argument("--out", default=None, help="folder for the rerun (default: a temporary folder)")
    parser.add_argument("--threads", type=positive_integer, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--device", type=device, default=None,
                        help="torch device (default: cpu for a run recorded on the CPU, else cuda)")
    parser.set_defaults(run=_verify)

    parser = subparsers.add_parser("strategies", help="list the registered strategies and their parameters")
    parser.add_argument("pattern", nargs="?", default=None, help="shell-style name filter")
    parser.set_defaults(run=_strategies)


def _strategy_params(args) -> dict:
    params = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise FacebenchError(f"--param expects NAME=VALUE, got '{item}'")
        params[name.replace("-", "_")] = value
    if args.buffer_size is not None:
        params["buffer_size"] = args.buffer_size
    return params


def _run(args) -> int | None:
    import torch
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from facebench.data import load_scenario
    from facebench.board.schema import summary_rows
    from facebench.progress import Lines, SessionClock, duration
    from facebench.protocol import Protocol
    from facebench.run.runner import RunSpec, run
    from facebench.registry import get_strategy

    if args.threads:
        torch.set_num_threads(args.threads)
    scenario = load_scenario(args.scenario)
    persons = scenario.persons if args.person == "all" else [args.person]
    entry = get_strategy(args.strategy)
    params = entry.resolve_params(_strategy_params(args))
    for person in persons:
        spec = RunSpec(args.strategy, params, args.scenario, person, args.seed, entry.defaults)
        checkpoint = spec.result_path(args.out, scenario.name).with_suffix(".ckpt")
        if args.resume and not checkpoint.exists():
            console.print(f"no checkpoint at {checkpoint}: the run starts from the beginning", markup=False,
                          soft_wrap=True)
        say = Lines(console)  # not a terminal (a log): a plain line per event instead of the bar
        say(f"run: {_params_text(spec)} on {scenario.name}, person {person}, seed {args.seed}"
            f"{', resuming' if args.resume and checkpoint.exists() else ''}")
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[stage]}"),
                      TimeElapsedColumn(), console=console, transient=True, disable=say.enabled) as bar:
            task = bar.add_task(f"{args.strategy} person {person}", total=None, stage="anchors")
            counts = scenario.counts().get(str(person))  # an unknown person: the runner says so
            experiences = counts and len(entry.strategy_kind.steps(Protocol.from_card(scenario.card), len(counts)))
            sessions = {"done": 0, "total": experiences or "?"}
            clock = SessionClock()

            def progress(stage, done, total, bar=bar, task=task, sessions=sessions, clock=clock):
                if stage == "session":
                    sessions.update(done=done, total=total)
                    bar.update(task, total=total, completed=done, stage=f"session {done}/{total} evaluated")
                    say(clock.session(done, total))
                elif stage == "train":
                    if clock.trained_from is None:
                        say(f"anchors ready, {duration(clock.elapsed())} elapsed; training session "
                            f"{sessions['done'] + 1}/{sessions['total']}")
                    clock.training(sessions["done"])
                    bar.update(task, stage=f"session {sessions['done'] + 1}: step {done}/{total}")
                    if done == total:
                        say(f"session {sessions['done'] + 1}/{sessions['total']}: {total} steps trained, evaluating, "
                            f"{duration(clock.elapsed())} elapsed")

            try:
                path = run(spec, args.out, resume=args.resume, force=args.force, progress=progress,
                           device=args.device)
            except KeyboardInterrupt:
                console.print(Text("interrupted: rerun with --resume to continue from the last finished session",
                                   style="yellow"))
                return 130
        say(f"run done: {_params_text(spec)}, person {person}, seed {args.seed}, "
            f"{duration(clock.elapsed())}; result: {path}")
        table = style.table(f"{_params_text(spec)} on {scenario.name}, person {person}, seed {args.seed}")
        for column in ("score", "better", "AIP", "forgetting", "final avg", "x"):
            table.add_column(column, justify="right" if column not in ("score", "better") else "left")
        for row in summary_rows(path):
            table.add_row(*row)
        console.print(table)
        console.print(f"result: {path}", markup=False, soft_wrap=True)
    return None


def _params_text(spec) -> str:
    """A run's strategy with the parameters that name it, then the defaults it runs with:
    ``ewc ewc_lambda=10000.0 (defaults: decay_factor=1.0)``, ``er-hull buffer_size=3``."""
    defaults = ", ".join(f"{key}={value}" for key, value in spec.params.items() if key not in spec.named)
    return spec.label + (f" (defaults: {defaults})" if defaults else "")


def _verify(args) -> int | None:
    import torch

    from facebench.run.verify import verify

    if args.threads:
        torch.set_num_threads(args.threads)
    if os.path.isdir(args.result) != (args.sample is not None):
        raise FacebenchError(f"{args.result}: give a result file, or a folder with --sample N"
                             if args.sample is None else f"{args.result}: --sample verifies a folder's files; "
                                                         "this is not a folder")
    if args.sample is not None:
        return _verify_sample(args)
    console.print(f"rerunning the run of {args.result} ...", markup=False, soft_wrap=True)
    result = verify(args.result, out=args.out, device=args.device)
    table = style.table(f"{args.result} against its rerun {result.rerun}")
    for column in ("score", "summary", "file", "rerun", "|difference|", "tolerance", ""):
        table.add_column(column, justify="left" if column in ("score", "summary", "") else "right")
    for check in result.checks:
        table.add_row(check.score, check.summary, _number(check.recorded), _number(check.rerun),
                      f"{check.difference:.2e}", f"{check.tolerance:.0e}",
                      Text("ok", style="green") if check.passes else Text("OUTSIDE", style="red"))
    console.print(table)
    where = ", ".join(f"{key} {result.recorded_on[key]} -> {result.rerun_on[key]}" for key in result.recorded_on
                      if result.recorded_on[key] != result.rerun_on[key])
    if where:
        console.print(f"ran elsewhere: {where}", markup=False, soft_wrap=True)
    failed = sum(not check.passes for check in result.checks)
    console.print(Text(f"{failed} of {len(result.checks)} outside the tolerance", style="red") if failed else
                  Text(f"all {len(result.checks)} within the protocol's tolerances", style="green"))
    return 1 if failed else None


def _verify_sample(args) -> int | None:
    from facebench.run.verify import verify_sample

    def announce(i: int, path) -> None:
        console.print(f"[{i + 1}/{args.sample}] rerunning the run of {path} ...", markup=False, soft_wrap=True)

    results = verify_sample(args.result, args.sample, seed=args.sample_seed, out=args.out, device=args.device,
                            on_file=announce)
    table = style.table(f"{args.sample} result files of {args.result} (draw {args.sample_seed}) against their reruns")
    for column in ("file", "checks", "outside", "worst |difference| / tolerance", ""):
        table.add_column(column, justify="left" if column in ("file", "") else "right")
    for sampled in results:
        name = os.path.relpath(sampled.path, args.result)
        if sampled.verification is None:
            table.add_row(name, "-", "-", "-", Text("NOT RERUN", style="red"))
            continue
        checks = sampled.verification.checks
        worst = max(check.difference / check.tolerance for check in checks)
        table.add_row(name, str(len(checks)), str(sum(not check.passes for check in checks)), f"{worst:.2f}",
                      Text("ok", style="green") if sampled.passes else Text("OUTSIDE", style="red"))
    console.print(table)
    for sampled in results:
        if sampled.error:
            console.print(f"not rerun: {sampled.error}", markup=False, soft_wrap=True)
    passed = sum(sampled.passes for sampled in results)
    console.print(Text(f"{passed} of {len(results)} files within the protocol's tolerances",
                       style="green" if passed == len(results) else "red"))
    return 0 if passed == len(results) else 1


def _number(value) -> str:
    return "-" if value is None else f"{value:.6g}"


def _strategies(args) -> None:
    from facebench.registry import strategy_summaries  # from a cache when nothing changed: no torch import

    table = style.table("strategies")
    for column in ("strategy", "kind", "parameters (default)", "description"):
        table.add_column(column, overflow="fold")
    for entry in strategy_summaries(args.pattern):
        params = ", ".join(name if default is None else f"{name}={default}" for name, default in entry.parameters)
        kind = "replay" if entry.is_replay else entry.kind
        table.add_row(entry.name, kind, params or "-", entry.description)
    console.print(table)


def _add_contrib_commands(subparsers) -> None:
    parser = subparsers.add_parser("new-strategy",
                                   help="write a new replay strategy and its test, from a template that passes the kit")
    parser.add_argument("name", metavar="NAME", help="the strategy's name, e.g. farthest-first")
    parser.add_argument("--dir", default=None, metavar="PROJECT",
                        help="a plugin project folder (created if missing) to write a complete installable package "
                             "into: pyproject.toml with the entry point, facebench_<name>/, the module, tests/; "
                             "without it, a built-in: the module goes to the checkout's strategies/ (run from "
                             "the checkout's root), the test to tests/")
    parser.set_defaults(run=_new_strategy)


def _new_strategy(args) -> None:
    from pathlib import Path

    import facebench.strategies
    from facebench.scaffold import new_plugin, new_strategy

    built_in = {Path(folder).resolve() for folder in facebench.strategies.__path__}
    if args.dir is None or Path(args.dir).resolve() in built_in:
        module, test = new_strategy(args.name, args.dir or "strategies")
        console.print(f"wrote {module} and {test}", markup=False, soft_wrap=True)
        console.print(f"'{args.name}' is a built-in strategy: write its select, then run: pytest {test}",
                      markup=False, soft_wrap=True)
        return
    plugin = new_plugin(args.name, args.dir)
    console.print(f"wrote {', '.join(map(str, plugin.written))}", markup=False, soft_wrap=True)
    declared = Path(plugin.root, "pyproject.toml")
    if declared in plugin.kept:
        console.print(f"kept the existing {', '.join(map(str, plugin.kept))}: declare the strategy in "
                      f"{declared} yourself:\n"
                      f'  [project.entry-points."facebench.strategies"]\n  {plugin.entry_point}',
                      markup=False, soft_wrap=True)
    else:
        console.print(f"its entry point, in {declared}: {plugin.entry_point}", markup=False, soft_wrap=True)
    console.print(f"next: write its select in {plugin.module}; test it: cd {plugin.root} && pytest; "
                  f"install it beside facebench: pip install -e {plugin.root}", markup=False, soft_wrap=True)


COMMAND_GROUPS = (_add_scenario_commands, _add_data_commands, _add_model_commands, _add_run_commands,
                  _add_leaderboard_commands, _add_contrib_commands)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facebench",
        description="A continual-learning benchmark for personalised generative face models.",
    )
    parser.add_argument("--version", action="version", version=f"facebench {facebench.__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_commands in COMMAND_GROUPS:
        add_commands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except (FacebenchError, OSError) as error:
        Console(stderr=True).print(Text(f"error: {error}", style="red"), soft_wrap=True)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
