"""optax's own tests, run with optfn's objects in optax's place.

The installed optax wheel ships its test files; they are run from there (nothing is
copied here) in a subprocess with ``tests/optax_suite/substitute.py`` as a pytest
plugin, which replaces every name optfn exports in optax's modules. Every failure must
be either a listed, deliberate difference (``tests/optax_suite/differences.py``) or a
test that fails in optax itself on this machine (rerun without the substitution).
"""

import fnmatch
import glob
import importlib.util
import json
import os
import subprocess
import sys

import pytest

optax = pytest.importorskip("optax")

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "optax_suite"))
from differences import DIFFERENCES  # noqa: E402

FILES = [
    "_src/alias_test.py", "_src/transform_test.py", "_src/combine_test.py", "_src/numerics_test.py",
    "_src/update_test.py", "_src/base_test.py", "_src/float64_test.py", "schedules/_schedule_test.py",
    "schedules/_join_test.py", "schedules/_inject_test.py", "transforms/_clipping_test.py",
    "transforms/_adding_test.py", "transforms/_combining_test.py",
]
ROOT = os.path.dirname(optax.__file__)


def _pytest(paths, report=None, substitute=True):
    env = {**os.environ, "PYTHONPATH": os.path.join(HERE, "optax_suite"), "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)  # optax's tests expect one device
    if report:
        env["OPTFN_OPTAX_REPORT"] = report
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore", *paths]
    if substitute:
        cmd[3:3] = ["-p", "substitute"]
    if report and importlib.util.find_spec("xdist"):  # two workers: optax's alias tests alone take minutes
        cmd[3:3] = ["-n", "2"]
    if report:
        # optax's L-BFGS tests are half of alias_test.py's time; they test optax's own lbfgs
        # and line search (optfn has neither), reaching of optfn only scale_by_learning_rate,
        # which hundreds of the other tests exercise
        cmd[3:3] = ["-k", "not LBFGSTest"]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def _listed(test_id: str) -> bool:
    return any(fnmatch.fnmatchcase(test_id, pattern) for pattern in DIFFERENCES)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("optax") / "report.json")
    _pytest([os.path.join(ROOT, f) for f in FILES], report=path)
    merged = {"substituted": [], "tests": {}}
    for part in glob.glob(f"{path}.*"):
        with open(part) as f:
            one = json.load(f)
        merged["substituted"] = sorted(set(merged["substituted"]) | set(one["substituted"]))
        merged["tests"].update(one["tests"])
    return merged


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
    summary = (f"{len(tests)} optax tests ran, {sum(v['outcome'] == 'passed' for v in tests.values())} passed, "
               f"{len(failed)} failed ({len(failed) - len(unlisted)} listed differences, {len(upstream)} failing in "
               f"optax itself), {sum(v['outcome'] == 'skipped' for v in tests.values())} skipped; "
               f"{len(touched)} called optfn; {len(report['substituted'])} names substituted")
    print(summary)
    assert not wrong, f"{summary}\nunexplained failures:\n" + "\n".join(
        f"{k}: {ids[k].get('error', '')}" for k in wrong)
    assert len(touched) > 100 and len(report["substituted"]) > 40  # the substitution really happened


def test_every_listed_difference_still_fails(report):
    ids = {k.split(ROOT + "/")[-1] if ROOT in k else k: v for k, v in report["tests"].items()}
    for pattern in DIFFERENCES:  # a difference that no longer shows is stale: remove it
        matched = [v for k, v in ids.items() if fnmatch.fnmatchcase(k, pattern)]
        assert matched and all(v["outcome"] == "failed" for v in matched), pattern
