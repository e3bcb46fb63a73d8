"""optax's own tests, run with optfn's objects in optax's place.

The installed optax wheel ships its test files; they are run from there (nothing is
copied here) in a subprocess with ``tests/optax_suite/substitute.py`` as a pytest
plugin, which replaces every name optfn exports in every optax module that defines or
imports it, ``optax._src.*`` included. Every failure must be either a listed, deliberate
difference (``tests/optax_suite/differences.py``) or a test that fails in optax itself
on this machine (rerun without the substitution).

The harness checks that it did what it claims: no optax module still holds optax's own
object under a name optfn exports, and each test file has at least ``MIN_CALLED`` of its
tests (those that ran) calling optfn.

The run takes minutes of one core, so ``conftest.py`` starts it in the background at the
start of the session (``start``: in the xdist controller before the workers exist, or,
without xdist, as soon as this file's tests are collected), and it goes on while the
rest of the suite runs; the fixture then waits for it.
"""

import fnmatch
import glob
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time

import pytest

optax = pytest.importorskip("optax")

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "optax_suite"))
from differences import DIFFERENCES  # noqa: E402

FILES = [
    "_src/alias_test.py", "_src/transform_test.py", "_src/combine_test.py", "_src/numerics_test.py",
    "_src/update_test.py", "_src/base_test.py", "_src/float64_test.py", "schedules/_schedule_test.py",
    "schedules/_join_test.py", "schedules/_inject_test.py", "transforms/_clipping_test.py",
    "transforms/_adding_test.py", "transforms/_combining_test.py", "transforms/_masking_test.py",
    "transforms/_accumulation_test.py", "transforms/_conditionality_test.py", "_src/lookahead_test.py",
    "contrib/_schedule_free_test.py",
]
ROOT = os.path.dirname(optax.__file__)
# the least share of each file's tests that must call optfn (measured with optax 0.2.8:
# the figure in the comment). Files below 1 also test optax functions optfn does not have.
MIN_CALLED = {
    "_src/alias_test.py": 0.95,  # 1.00: every optimizer test builds its optimizer from optfn's parts
    "_src/transform_test.py": 0.55,  # 0.61: scale_by_polyak, normalize_by_update_norm, ... are optax's
    "_src/combine_test.py": 0.85,  # 0.93
    "_src/float64_test.py": 0.95,  # 1.00
    "_src/update_test.py": 0.4,  # 0.50: incremental_update and periodic_update are optax's
    "_src/numerics_test.py": 0.1,  # 0.16: safe_norm, safe_root_mean_squares, abs_sq are optax's
    "_src/base_test.py": 0.0,  # 0.00: optfn's classes are substituted, but no optfn function is called
    "schedules/_schedule_test.py": 0.75,  # 0.82: cosine_onecycle, sgdr, ... are optax's
    "schedules/_join_test.py": 0.95,  # 1.00
    "schedules/_inject_test.py": 0.95,  # 1.00
    "transforms/_clipping_test.py": 0.3,  # 0.33: adaptive_grad_clip, per-example clipping are optax's
    "transforms/_adding_test.py": 0.95,  # 1.00
    "transforms/_combining_test.py": 0.85,  # 0.93
    "transforms/_masking_test.py": 0.95,  # 1.00 (20/20)
    "transforms/_accumulation_test.py": 0.95,  # 1.00 (12/12)
    "transforms/_conditionality_test.py": 0.95,  # 1.00 (9/9)
    "_src/lookahead_test.py": 0.95,  # 1.00 (7/7)
    "contrib/_schedule_free_test.py": 0.95,  # 1.00 (17/17)
}


def _command(paths, report=None, substitute=True, workers=1):
    env = {**os.environ, "PYTHONPATH": os.path.join(HERE, "optax_suite"), "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)  # optax's tests expect one device
    if report:
        env["OPTFN_OPTAX_REPORT"] = report
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore", *paths]
    if substitute:
        cmd[3:3] = ["-p", "substitute"]
    if workers > 1 and importlib.util.find_spec("xdist"):
        cmd[3:3] = ["-n", str(workers)]
    if report:
        # optax's L-BFGS tests are half of alias_test.py's time; they test optax's own lbfgs
        # and line search (optfn has neither), reaching of optfn only scale_by_learning_rate,
        # which hundreds of the other tests exercise
        cmd[3:3] = ["-k", "not LBFGSTest"]
    return cmd, env


def _pytest(paths, substitute=True):
    cmd, env = _command(paths, substitute=substitute)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


FOLDER_VARIABLE = "OPTFN_OPTAX_SUITE_FOLDER"  # where the xdist controller's run writes


def selected(args) -> bool:
    """Whether pytest's path arguments include this file (a folder above it, or the file)."""
    here = os.path.abspath(__file__)
    paths = [os.path.abspath(a.split("::")[0]) for a in args if not a.startswith("-")] or [os.getcwd()]
    return any(here == p or here.startswith(p.rstrip(os.sep) + os.sep) for p in paths)


def start(folder: str, alone: bool):
    """Start the substituted run of ``FILES`` in the background; ``(process, report path)``.
    ``alone``: nothing else runs beside it, so it takes both cores (two xdist workers).
    A file ``done`` appears in ``folder`` when it has finished (an xdist worker, which
    cannot wait on the controller's process, waits for that)."""
    report = os.path.join(folder, "report.json")
    cmd, env = _command([os.path.join(ROOT, f) for f in FILES], report=report, workers=2 if alone else 1)
    with open(os.path.join(folder, "log.txt"), "w") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def mark():
        process.wait()
        with open(os.path.join(folder, "done"), "w") as f:
            f.write(str(process.returncode))

    threading.Thread(target=mark, daemon=True).start()
    return process, report


def _wait_for(folder: str, timeout: float) -> str:
    """The report path of the run the xdist controller started, once it has finished."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(os.path.join(folder, "done")):
        if time.monotonic() > deadline:
            raise TimeoutError(f"optax's tests started in {folder} did not finish in {timeout:.0f} s")
        time.sleep(1)
    return os.path.join(folder, "report.json")


def _listed(test_id: str) -> bool:
    return any(fnmatch.fnmatchcase(test_id, pattern) for pattern in DIFFERENCES)


@pytest.fixture(scope="module")
def report(request, tmp_path_factory):
    started = getattr(request.config, "_optax_suite", None)  # conftest starts it at collection
    if started is not None:
        started[0].wait(timeout=1200)
        path = started[1]
    elif os.environ.get(FOLDER_VARIABLE):  # an xdist worker: the controller started it
        path = _wait_for(os.environ[FOLDER_VARIABLE], 1200)
    else:  # run alone, it takes both cores; beside another xdist worker, one
        process, path = start(str(tmp_path_factory.mktemp("optax")), alone=not os.environ.get("PYTEST_XDIST_WORKER"))
        process.wait(timeout=1200)
    merged = {"substituted": {}, "missed": [], "tests": {}}
    for part in glob.glob(f"{path}.*"):
        with open(part) as f:
            one = json.load(f)
        merged["substituted"].update(one["substituted"])
        merged["missed"] = sorted(set(merged["missed"]) | set(one["missed"]))
        merged["tests"].update(one["tests"])
    return merged


def _per_file(tests) -> dict:
    """``file -> (tests that ran, of which called optfn)``."""
    out = {}
    for test_id, v in tests.items():
        if v["outcome"] != "skipped":
            ran, called = out.get(test_id.split("::")[0], (0, 0))
            out[test_id.split("::")[0]] = (ran + 1, called + v["touched"])
    return out


def test_optax_tests_pass_on_optfn_but_for_listed_differences(report):
    tests = report["tests"]
    ids = {k.split(ROOT + "/")[-1] if ROOT in k else k: v for k, v in tests.items()}
    failed = sorted(k for k, v in ids.items() if v["outcome"] == "failed")
    unlisted = [k for k in failed if not _listed(k)]
    upstream = []
    if unlisted:  # does it fail in optax itself, without optfn?
        plain = _pytest([os.path.join(ROOT, k) for k in unlisted], substitute=False)
        upstream = [k for k in unlisted if k.split("::")[-1] in plain.stdout and "FAILED" in plain.stdout
                    and any(line.startswith("FAILED") and k.split("::", 1)[1] in line
                            for line in plain.stdout.splitlines())]
    wrong = sorted(set(unlisted) - set(upstream))
    touched = [v for v in tests.values() if v["touched"]]
    names = {n for ns in report["substituted"].values() for n in ns}
    summary = (f"{len(tests)} optax tests ran, {sum(v['outcome'] == 'passed' for v in tests.values())} passed, "
               f"{len(failed)} failed ({len(failed) - len(unlisted)} listed differences, {len(upstream)} failing in "
               f"optax itself), {sum(v['outcome'] == 'skipped' for v in tests.values())} skipped; "
               f"{len(touched)} called optfn; {len(names)} names substituted at "
               f"{sum(map(len, report['substituted'].values()))} places in {len(report['substituted'])} modules")
    print(summary)
    assert not wrong, f"{summary}\nunexplained failures:\n" + "\n".join(
        f"{k}: {ids[k].get('error', '')}" for k in wrong)


def test_the_substitution_took_effect_everywhere(report):
    # no optax module (optax._src.* included) kept optax's object under a name optfn exports
    assert report["missed"] == []
    subs = report["substituted"]
    # the call sites optax's alias and transform tests use
    assert "scale_by_lion" in subs["optax._src.transform"] and "lamb" in subs["optax._src.alias"]
    assert "chain" in subs["optax._src.combine"] and "safe_increment" in subs["optax._src.numerics"]
    assert len({n for ns in subs.values() for n in ns}) > 60


def test_each_optax_test_file_mostly_calls_optfn(report):
    ids = {k.split(ROOT + "/")[-1] if ROOT in k else k: v for k, v in report["tests"].items()}
    shares = {f: (ran, called) for f, (ran, called) in _per_file(ids).items()}
    assert set(shares) == set(MIN_CALLED), sorted(set(shares) ^ set(MIN_CALLED))
    low = {f: f"{called}/{ran}" for f, (ran, called) in shares.items() if called < MIN_CALLED[f] * ran}
    assert not low, f"test files that call optfn less than MIN_CALLED says: {low}"


def test_every_listed_difference_still_fails(report):
    ids = {k.split(ROOT + "/")[-1] if ROOT in k else k: v for k, v in report["tests"].items()}
    for pattern in DIFFERENCES:  # a difference that no longer shows is stale: remove it
        matched = [v for k, v in ids.items() if fnmatch.fnmatchcase(k, pattern)]
        assert matched and all(v["outcome"] == "failed" for v in matched), pattern
