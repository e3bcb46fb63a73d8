"""A pytest plugin that runs optax's own tests with optfn's objects in optax's place.

Loaded with ``-p substitute`` (this folder on ``PYTHONPATH``). Before any test module is
imported, every public optfn name that an optax module also defines is replaced in that
module by optfn's object (optax's schedule names by the optfn schedules they match).
Functions are wrapped so the report can tell which tests called optfn at all. At the end
the outcome of every test (and whether it touched optfn) goes to
``$OPTFN_OPTAX_REPORT.<process>`` as JSON (one file per pytest-xdist worker).
"""

import functools
import importlib
import inspect
import json
import os
import pkgutil

import pytest

_TOUCHED = [False]
_OUTCOMES = {}
MODULE_PREFIXES = ("optax._src.", "optax.schedules.", "optax.transforms.")
OPTAX_NAMES = {  # optax's schedule names, for the optfn schedules they are
    "constant_schedule": "constant", "linear_schedule": "linear", "polynomial_schedule": "polynomial",
    "cosine_decay_schedule": "cosine_decay", "warmup_cosine_decay_schedule": "warmup_cosine_decay",
    "piecewise_constant_schedule": "piecewise_constant",
}


def _recording(obj):
    @functools.wraps(obj)
    def call(*args, **kwargs):
        _TOUCHED[0] = True
        return obj(*args, **kwargs)

    return call


def substitute() -> list:
    """Patch optax's modules in place; return the names substituted."""
    import optax

    import optfn

    modules = [optax]
    for info in pkgutil.walk_packages(optax.__path__, "optax."):
        # optax.tree (tree arithmetic: tree.scale) shares names with transformations; skip it
        if info.name.endswith("_test") or "test_utils" in info.name or "contrib" in info.name or ".tree" in info.name:
            continue
        try:
            modules.append(importlib.import_module(info.name))
        except Exception:  # an optional dependency of some optax module
            continue
    ours = {n: getattr(optfn, n) for n in dir(optfn) if not n.startswith("_") and n != "sweep"}
    ours.update({theirs: ours[mine] for theirs, mine in OPTAX_NAMES.items()})
    done = set()
    for module in modules:
        for name, obj in ours.items():
            if hasattr(module, name) and not inspect.ismodule(getattr(module, name)):
                is_class = inspect.isclass(obj)
                setattr(module, name, obj if is_class or not callable(obj) else _recording(obj))
                done.add(name)
    return sorted(done)


def pytest_configure(config):
    config._optfn_names = substitute()


def pytest_runtest_setup(item):
    _TOUCHED[0] = False


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    entry = _OUTCOMES.setdefault(item.nodeid, {"outcome": "passed", "touched": False})
    if report.failed:
        entry["outcome"] = "failed"
        entry["error"] = str(call.excinfo.value).splitlines()[0][:300] if call.excinfo else report.longreprtext[-300:]
    elif report.skipped and entry["outcome"] != "failed":
        entry["outcome"] = "skipped"
    entry["touched"] = entry["touched"] or _TOUCHED[0]


def pytest_sessionfinish(session):
    path = os.environ.get("OPTFN_OPTAX_REPORT")
    if path:  # one file per process: with pytest-xdist each worker reports its own tests
        with open(f"{path}.{os.environ.get('PYTEST_XDIST_WORKER', 'main')}", "w") as f:
            json.dump({"substituted": session.config._optfn_names, "tests": _OUTCOMES}, f, indent=1)
