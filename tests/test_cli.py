"""``optfn sweep``: outputs, and a SIGKILLed sweep resumes to the uninterrupted results."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

pytest.importorskip("sklearn")

# learning rates up to 1e3: some trials blow up, and must be flagged and left out of the tables
SMALL = ["--trials", "16", "--steps", "120", "--chunk-steps", "20", "--rounds", "2", "--lr-max", "1e3", "--quiet"]


CACHE_HOME = tempfile.mkdtemp(prefix="optfn-cli-cache-")  # not the user's ~/.cache


def _optfn(*args, check=True):
    return subprocess.run([sys.executable, "-m", "optfn", *args], capture_output=True, text=True, timeout=300,
                          check=check, env={**os.environ, "XDG_CACHE_HOME": CACHE_HOME})


def _main(capsys, *args):
    """``optfn ...`` in this process (no interpreter to start): ``(status, stdout, stderr)``.
    ``--no-cache`` where it sweeps: the persistent cache is a process-wide setting."""
    from optfn._cli import main

    rc = main([*args, "--no-cache"] if args[0] == "sweep" and "--resume" not in args else list(args))
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _read(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _trials(folder):
    with open(os.path.join(folder, "results.json")) as f:
        return [(t["id"], t["status"], t["steps"], t["metric"]) for t in json.load(f)["trials"]]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("sweep") / "a")
    run = _optfn("sweep", *SMALL, "--out", out)
    return out, run.stdout


def _table(lines, first):
    """The rows of the table whose header starts with ``first``, as dicts by column."""
    start = next(i for i, line in enumerate(lines) if line.split()[:len(first)] == first)
    header, rows = lines[start].split(), []
    for line in lines[start + 1:]:
        cells = line.split()
        if len(cells) != len(header) or not (cells[0].rstrip("=").isdigit() or cells[0] == "-"):
            break
        rows.append(dict(zip(header, cells)))
    return rows


def test_the_sweep_writes_a_ranked_table_json_csv_and_a_plot(finished):
    out, stdout = finished
    lines = stdout.splitlines()
    assert lines[0].split() == ["rank", "id", "round", "val_loss", "val_accuracy", "test_loss", "learning_rate",
                                "b1", "steps"]
    trials = _trials(out)
    assert len(trials) == 32 and {t[0] for t in trials} == set(range(32))  # two rounds, unique ids
    with open(os.path.join(out, "results.csv")) as f:
        assert f.readline().strip() == "round,id,status,metric,accuracy,loss,test_metric,steps,learning_rate,b1"
        assert len(f.readlines()) == 32
    assert os.path.getsize(os.path.join(out, "sweep.png")) > 0
    best = min(t[3] for t in trials if t[1] == "ok")
    assert best < 0.5  # digits: the best trials learn
    with open(os.path.join(out, "results.json")) as f:
        saved = json.load(f)
    failed = [t for t in saved["trials"] if t["status"] != "ok"]
    assert failed and all(t["hyperparams"]["learning_rate"] > 0.1 for t in failed)
    ranked = _table(lines, ["rank", "id", "round"])
    assert len(ranked) == 10 and not {int(r["id"]) for r in ranked} & {t["id"] for t in failed}
    by_id = {t["id"]: t for t in saved["trials"]}
    for r in ranked:  # the table is the JSON's, the test loss of each pick included
        t = by_id[int(r["id"])]
        assert float(r["val_loss"]) == pytest.approx(t["metric"], rel=1e-4)
        assert float(r["test_loss"]) == pytest.approx(t["test_metric"], rel=1e-4)
    assert len(saved["confirmed"]) == 4 and all(len(t["replica_metrics"]) == 8 for t in saved["confirmed"])
    confirmed = _table(lines, ["rank", "id", "val_loss_mean"])
    assert {int(r["id"]) for r in confirmed} == {t["id"] for t in saved["confirmed"]}  # every one retrained
    assert all(int(r["id"]) in by_id for r in confirmed) and all("test_metric" in t for t in saved["confirmed"])
    assert "confirmed: every configuration retrained with 8 fresh seeds" in stdout
    assert "compile" in stdout and "train" in stdout
    imp = saved["importance"]  # which hyperparameters mattered, printed and drawn
    assert set(imp["shares"]) == {"learning_rate", "b1"} and imp["step"] > 0
    assert "which hyperparameters mattered" in stdout and os.path.getsize(os.path.join(out, "importance.png")) > 0
    assert os.listdir(os.path.join(CACHE_HOME, "optfn", "xla"))  # the persistent cache, on by default


def _committed(path, fmt) -> bool:
    if fmt == "npz":
        return os.path.exists(path)
    return os.path.isdir(path) and any(name.isdigit() for name in os.listdir(path))  # a finished orbax step


PBT = ["--strategy", "pbt", "--trials", "16", "--steps", "120", "--chunk-steps", "20", "--quiet"]


@pytest.fixture(scope="module")
def finished_pbt(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("pbt") / "a")
    run = _optfn("sweep", *PBT, "--out", out)
    return out, run.stdout


def test_a_pbt_sweep_saves_lineages_schedules_and_the_best_member(finished_pbt):
    out = finished_pbt[0]
    with open(os.path.join(out, "results.json")) as f:
        trials = json.load(f)["trials"]
    copied = [t for t in trials if "lineage" in t]
    assert copied and all(t["lineage"][0]["step"] == 0 and t["lineage"][1]["from"] in range(16) for t in copied)
    assert all(t["final_hyperparams"] == t["lineage"][-1]["hyperparams"] for t in copied)  # what the table shows
    with open(os.path.join(out, "results.json")) as f:
        replay = json.load(f)["confirmed"]  # the best member's schedule, replayed with 8 fresh seeds
    assert len(replay) == 1 and len(replay[0]["replica_metrics"]) == 8
    stdout = finished_pbt[1]
    assert "the best member's schedule" in stdout
    steps = [int(r["from_step"]) for r in _table(stdout.splitlines(), ["from_step"])]
    events = {t["id"]: t for t in trials}
    assert steps[0] == 0 and steps == sorted(steps) and len(steps) <= 1 + len(events[replay[0]["id"]].get("lineage", []))
    assert os.path.getsize(os.path.join(out, "schedules.png")) > 0
    params, bn_state = __import__("optfn").sweep.load_params(os.path.join(out, "best_model.npz"))
    assert params and bn_state
    run = _optfn("sweep", *PBT, "--rounds", "2", "--out", out + "x", check=False)
    assert run.returncode == 2 and "--rounds does not apply to --strategy pbt" in run.stderr
    assert not os.path.exists(out + "x")


# the orbax store and PBT resume in process too (test_sweep_runner.py, test_sweep_pbt.py); killed: -m slow
@pytest.mark.parametrize("fmt, strategy", [pytest.param("npz", "halving", marks=pytest.mark.slow),
                                           pytest.param("orbax", "halving", marks=pytest.mark.slow),
                                           pytest.param("npz", "pbt", marks=pytest.mark.slow)])
def test_a_killed_sweep_resumes_to_the_same_results(finished, finished_pbt, tmp_path, fmt, strategy):
    if fmt == "orbax":
        pytest.importorskip("orbax.checkpoint")
    out = str(tmp_path / "b")
    flags = SMALL if strategy == "halving" else PBT
    finished = finished if strategy == "halving" else finished_pbt
    proc = subprocess.Popen([sys.executable, "-m", "optfn", "sweep", *flags, "--out", out, "--checkpoint-format", fmt],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "XDG_CACHE_HOME": CACHE_HOME})
    checkpoint = os.path.join(out, "round1.npz" if fmt == "npz" else "round1")
    deadline = time.time() + 240
    while not _committed(checkpoint, fmt) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _committed(checkpoint, fmt) and not os.path.exists(os.path.join(out, "results.json"))  # really cut off
    _optfn("sweep", "--resume", out)
    assert _trials(out) == _trials(finished[0])


def test_a_corrupted_checkpoint_is_reported_and_left_alone(finished, tmp_path, capsys):
    out = str(tmp_path / "c")
    os.makedirs(out)
    with open(os.path.join(finished[0], "args.json")) as f:
        args = json.load(f)
    with open(os.path.join(out, "args.json"), "w") as f:
        json.dump(args, f)
    broken = os.path.join(out, "round1.npz")
    with open(broken, "wb") as dst:
        dst.write(_read(os.path.join(finished[0], "round1.npz"))[:5000])  # a truncated file
    before = _read(broken)
    rc, _, err = _main(capsys, "sweep", "--resume", out, "--quiet", "--no-cache")
    assert rc == 2 and "cannot be read" in err and "left as it is" in err
    assert _read(broken) == before


@pytest.mark.slow
def test_a_mismatched_checkpoint_is_reported_and_left_alone(finished, tmp_path):
    out = str(tmp_path / "d")
    os.makedirs(out)
    with open(os.path.join(finished[0], "args.json")) as f:
        args = {**json.load(f), "trials": 8}  # the checkpoint was written for 16
    with open(os.path.join(out, "args.json"), "w") as f:
        json.dump(args, f)
    saved = _read(os.path.join(finished[0], "round1.npz"))
    with open(os.path.join(out, "round1.npz"), "wb") as f:
        f.write(saved)
    run = _optfn("sweep", "--resume", out, check=False)
    assert run.returncode == 2 and "written with other settings" in run.stderr
    assert _read(os.path.join(out, "round1.npz")) == saved


def test_an_existing_sweep_is_never_overwritten(finished, capsys):
    rc, _, err = _main(capsys, "sweep", *SMALL, "--out", finished[0])
    assert rc == 2 and "--resume" in err and "--force" in err


TINY = ["--trials", "8", "--steps", "40", "--chunk-steps", "20", "--rounds", "1", "--confirm", "0", "--no-plot",
        "--quiet"]


@pytest.mark.parametrize("flags, message", [
    (["--lr-min", "0"], "--lr-min must be > 0"),
    (["--rounds", "0"], "--rounds must be >= 1, got 0"),
    (["--hidden", "0"], "--hidden must be >= 1, got 0"),
    (["--beta-max", "1.5"], "--beta-max must be in (0, 1), got 1.5"),
    (["--steps", "50", "--chunk-steps", "20"], "--steps 50 must be a multiple of --chunk-steps 20"),
    (["--devices", "99"], "--devices 99: only"),
    (["--batch-size", "5000"], "--batch-size 5000 exceeds the 1078 examples of data"),  # found on the data
    (["--time-budget", "soon"], "--time-budget soon: pass a positive duration"),
    (["--resume", "nowhere"], "--resume nowhere: nothing to resume there"),
    (["--optuna-storage", "nosuchdb://x"], "--optuna-storage nosuchdb://x: cannot be opened"),
    (["--strategy", "hyperband", "--halving", "0"], "--halving 0 turns halving off, but --strategy hyperband"),
    (["--strategy", "bohb", "--shared-batches"], "--shared-batches does not apply to --strategy bohb"),
    (["--strategy", "asha", "--shared-batches"], "--shared-batches does not apply to --strategy asha"),
    (["--strategy", "asha", "--halving", "0"], "--halving 0 turns halving off, but --strategy asha halves"),
])
def test_bad_flags_exit_2_with_one_line_and_write_nothing(tmp_path, flags, message, capsys):
    out = tmp_path / "s"
    rc, _, err = _main(capsys, "sweep", *TINY, "--out", str(out), *flags)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert message in err and "Traceback" not in err
    assert not out.exists()  # nothing written: the corrected command runs


def test_hyperband_is_the_default_and_records_why_each_trial_stopped(tmp_path, capsys):
    out = str(tmp_path / "hb")
    rc, _, _ = _main(capsys, "sweep", *TINY, "--devices", "1", "--halving", "2", "--out", out)  # no --strategy
    with open(os.path.join(out, "args.json")) as f:
        assert json.load(f)["strategy"] == "hyperband"
    with open(os.path.join(out, "results.json")) as f:
        trials = json.load(f)["trials"]
    # 40 steps from 20, eta 2: bracket 1 (4 trials) keeps 2 at step 20, bracket 0 (4) trains to the end
    assert rc == 0 and sorted((t["steps"], t["stop"]) for t in trials) == [(20, "rung")] * 2 + [(40, "end")] * 6


@pytest.mark.parametrize("strategy", ["asha", "bohb"])
def test_asha_and_bohb_spend_at_most_what_halving_would_and_record_why_each_trial_stopped(strategy, tmp_path, capsys):
    if strategy == "bohb":
        pytest.importorskip("optuna")
    from optfn import sweep

    out = str(tmp_path / strategy)
    flags = ["--trials", "9", "--steps", "60", "--chunk-steps", "20", "--rounds", "1", "--confirm", "0", "--no-plot",
             "--quiet", "--devices", "1", "--halving", "3", "--strategy", strategy]
    rc, _, _ = _main(capsys, "sweep", *flags, "--out", out)
    with open(os.path.join(out, "results.json")) as f:
        saved = json.load(f)
    cap = sweep.SuccessiveHalving(3).trial_steps(9, 60, 20)
    assert rc == 0 and cap == 9 * 20 + 3 * 40  # 9 to the rung at 20, the best 3 to the end
    assert saved["trial_steps"] <= cap and sum(t["steps"] for t in saved["trials"]) == saved["trial_steps"]
    # the cap may bind before the pool runs out: bohb starts 7 of the 9 configurations here
    assert {t["stop"] for t in saved["trials"]} <= {"rung", "end", "budget"} and len(saved["trials"]) <= 9
    with open(os.path.join(out, "args.json")) as f:
        assert json.load(f)["shared_batches"] is False  # rows at different steps draw their own batches


def test_out_naming_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    rc, _, err = _main(capsys, "sweep", *TINY, "--out", str(target))
    assert rc == 2 and "--out" in err and "is a file" in err


@pytest.mark.slow
def test_resume_refuses_conflicting_flags_and_damaged_options(tmp_path):
    out = str(tmp_path / "r")
    first = _optfn("sweep", *TINY, "--out", out)
    assert "elapsed" in first.stdout
    with open(os.path.join(out, "results.json")) as f:
        json.load(f, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    from optfn.sweep import load_params

    params, state = load_params(os.path.join(out, "best_model.npz"))
    assert params["w1"].shape == (64, 64) and state.mean.shape == (64,)
    run = _optfn("sweep", "--resume", out, "--trials", "16", check=False)
    assert run.returncode == 2 and "--trials 16 conflicts with the saved --trials 8" in run.stderr
    assert _optfn("sweep", "--resume", out, "--trials", "8", "--quiet").returncode == 0  # the same value is fine
    with open(os.path.join(out, "args.json"), "w") as f:
        f.write("{damaged")
    run = _optfn("sweep", "--resume", out, check=False)
    assert run.returncode == 2 and "args.json cannot be read" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.slow
def test_a_folder_in_use_is_refused_and_a_stale_lock_is_taken_over(tmp_path):
    out = tmp_path / "l"
    out.mkdir()
    (out / ".lock").write_text(str(os.getpid()))  # this test process: alive
    run = _optfn("sweep", *TINY, "--out", str(out), check=False)
    assert run.returncode == 2 and f"in use by process {os.getpid()}" in run.stderr
    assert not (out / "args.json").exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / ".lock").write_text(str(dead.pid))  # a killed sweep's lock
    assert _optfn("sweep", *TINY, "--out", str(out)).returncode == 0
    assert not (out / ".lock").exists()  # released on exit


def test_your_own_task_and_space_from_the_command_line(tmp_path, capsys):
    root = os.path.join(os.path.dirname(__file__), "..", "examples", "task")
    out = str(tmp_path / "t")
    rc, stdout, _ = _main(capsys, "sweep", "--task", os.path.join(root, "my_task.py") + ":make_task", "--space",
                          os.path.join(root, "space.toml"), "--trials", "16", "--steps", "100", "--quiet", "--no-plot",
                          "--out", out)
    assert rc == 0 and stdout.splitlines()[0].split() == ["rank", "id", "round", "validation_mse", "test_mse",
                                                  "learning_rate", "b1", "hidden", "l2", "steps"]
    with open(os.path.join(out, "results.json")) as f:
        trials = json.load(f)["trials"]
    assert len(trials) == 32 and {t["hyperparams"]["hidden"] for t in trials} == {16, 32}
    assert min(t["metric"] for t in trials if t["status"] == "ok") < 1.0
    from optfn.sweep import load_params

    assert set(load_params(os.path.join(out, "best_model.npz"))) == {"w1", "w2"}
    rc, _, err = _main(capsys, "sweep", "--task", os.path.join(root, "my_task.py") + ":make_task", "--space",
                       os.path.join(root, "space.toml"), "--hidden", "32", "--out", str(tmp_path / "h"))
    assert rc == 2 and "--hidden is a flag of the bundled digits task" in err and not (tmp_path / "h").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text("learning_rate = { log_normal = [1, 2] }\n")
    rc, _, err = _main(capsys, "sweep", "--task", os.path.join(root, "my_task.py") + ":make_task", "--space",
                       str(bad), "--out", str(tmp_path / "u"))
    assert rc == 2 and "learning_rate must be one of" in err and not (tmp_path / "u").exists()
    odd = tmp_path / "odd_task.py"  # a task whose batch_size is not an int
    odd.write_text(f"import sys; sys.path.insert(0, {root!r})\nfrom my_task import make_task as base\n"
                   "def make_task():\n    return {**base(), 'batch_size': '64'}\n")
    rc, _, err = _main(capsys, "sweep", "--task", f"{odd}:make_task", "--space", os.path.join(root, "space.toml"),
                       "--out", str(tmp_path / "o"))
    assert rc == 2 and "its 'batch_size' must be an int" in err and not (tmp_path / "o").exists()


def test_a_newcomers_path_budget_resume_show_and_force(tmp_path, capsys):
    """A budget stops the sweep cleanly, --resume says where it goes on and finishes it,
    optfn show prints the same table, and --force replaces the folder."""
    out = str(tmp_path / "n")
    rc, first, _ = _main(capsys, "sweep", *TINY, "--devices", "1", "--time-budget", "0.001s", "--out", out)
    assert rc == 0 and "the time budget (0.001s) was spent" in first
    with open(os.path.join(out, "results.json")) as f:
        assert json.load(f)["budget_spent"] is True
    rc, again, _ = _main(capsys, "sweep", "--resume", out, "--quiet", "--no-cache")
    assert rc == 0 and f"resuming {out}: round 1 of 1 from step 20 of 40" in again
    with open(os.path.join(out, "results.json")) as f:
        saved = json.load(f)
    assert saved["budget_spent"] is False and max(t["steps"] for t in saved["trials"]) == 40
    assert not any(t.get("stop") == "budget" for t in saved["trials"])
    ranked = _table(again.splitlines(), ["rank", "id"])
    rc, shown, _ = _main(capsys, "show", out, "--no-plot")
    assert rc == 0 and ranked == _table(shown.splitlines(), ["rank", "id"])  # the same rows
    rc, _, err = _main(capsys, "sweep", *TINY, "--devices", "1", "--out", out)
    assert rc == 2 and "--force" in err
    with open(os.path.join(out, "notes.txt"), "w") as f:  # the user's own file: --force keeps it
        f.write("mine")
    storage = f"sqlite:///{tmp_path / 's.db'}"
    rc, forced, _ = _main(capsys, "sweep", *TINY, "--devices", "1", "--out", out, "--force", "--optuna-storage", storage,
                          "--halving", "0")  # alone, no halving: random search
    with open(os.path.join(out, "args.json")) as f:
        assert json.load(f)["strategy"] == "halving"
    with open(os.path.join(out, "results.json")) as f:
        saved = json.load(f)
    assert rc == 0 and saved["budget_spent"] is False and {t["stop"] for t in saved["trials"]} == {"end"}
    assert os.path.exists(os.path.join(out, "notes.txt"))
    optuna = pytest.importorskip("optuna")
    name = forced.split("optuna study '")[1].split("'")[0]
    assert len(optuna.load_study(study_name=name, storage=storage).trials) == 8  # the sweep, for Optuna's tools
    rc, _, err = _main(capsys, "show", str(tmp_path / "none"))
    assert rc == 2 and "no sweep there" in err


def test_the_guides_best_model_example_runs_on_a_finished_sweep(finished, tmp_path, monkeypatch, capsys):
    """The README's 'The best model' block, in a folder holding the sweep as optfn-sweep:
    it evaluates the saved pick on the test split, as the sweep did."""
    import re
    import textwrap

    root = os.path.join(os.path.dirname(__file__), "..")
    with open(os.path.join(root, "README.md")) as f:
        block = next(textwrap.dedent(b) for b in re.findall(r"```python\n(.*?)```", f.read(), re.S)
                     if b.startswith("# after `optfn sweep`"))
    os.symlink(finished[0], tmp_path / "optfn-sweep")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    with open(os.path.join(finished[0], "results.json")) as f:
        saved = json.load(f)
    pick = min((t for t in saved["confirmed"] if t["status"] == "ok"), key=lambda t: t["metric"])
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "loss" in printed
    params, bn_state = namespace["params"], namespace["bn_state"]
    test = namespace["task"]["evaluate"](params, bn_state, namespace["task"]["test_data"])
    # replica 0 of the confirmed pick, as the sweep measured it
    assert float(test["loss"]) == pytest.approx(pick["test_replica_metrics"][0], rel=1e-5)


def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_folder(tmp_path, capsys, monkeypatch):
    from optfn import _cli_sweep

    out = tmp_path / "f"

    def broken(args, folder, *rest):
        assert (out / "args.json").exists()  # written, then the training fails
        raise RuntimeError("the device went away")

    monkeypatch.setattr(_cli_sweep, "_train", broken)
    with pytest.raises(RuntimeError, match="went away"):
        _main(capsys, "sweep", *TINY, "--devices", "1", "--out", str(out))
    assert not out.exists()  # the corrected command runs as a new sweep
