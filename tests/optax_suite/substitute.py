"""A pytest plugin that runs optax's own tests with optfn's objects in optax's place.

Loaded with ``-p substitute`` (this folder on ``PYTHONPATH``). Before any test module is
imported, every public optfn name that an optax module defines or imports is replaced in
that module by optfn's object (optax's schedule names by the optfn schedules they match).
"Every optax module" means every ``.py`` file of the installed package, found on disk:
``optax._src`` has no ``__init__.py``, so ``pkgutil.walk_packages`` never enters it, and
optax's tests call ``alias.adam`` and ``transform.scale_by_adam`` through those modules.

Functions are wrapped so the report can tell which tests called optfn at all. After
collection and again at the end, every loaded optax module is checked: a name optfn
exports that is not optfn's object there is reported as ``missed`` (the harness asserts
there are none). The outcome of every test, whether it touched optfn, and the
substitutions go to ``$OPTFN_OPTAX_REPORT.<process>`` as JSON (one file per pytest-xdist
worker).
"""

import functools
import importlib
import inspect
import json
import os
import sys

import pytest

_TOUCHED = [False]
_OUTCOMES = {}
OPTAX_NAMES = {  # optax's schedule names, for the optfn schedules they are
    "constant_schedule": "constant", "linear_schedule": "linear", "polynomial_schedule": "polynomial",
    "cosine_decay_schedule": "cosine_decay", "warmup_cosine_decay_schedule": "warmup_cosine_decay",
    "piecewise_constant_schedule": "piecewise_constant",
}
# optax.tree is tree arithmetic (optax.tree.scale(scalar, tree), optax.tree.clip(tree, lo, hi)):
# the same names as two transformations, another concept
SKIPPED_MODULES = ("optax.tree",)
# optax's alias tests run each of ~35 optimizers through the same dozen checks. Those of an
# optimizer optfn does not have test optax's own update rule and are deselected, but for
# two compositions that reach optfn's parts in ways the others do not: fromage (a negative,
# scheduled add_decayed_weights) and polyak_sgd (value= through chain and MultiSteps).
KEPT_OPTAX_OPTIMIZERS = ("fromage", "polyak_sgd")


def _module_names(root: str):
    """Every importable optax module but the tests, found from the files on disk."""
    for folder, _, files in os.walk(root):
        for file in sorted(files):
            if not file.endswith(".py") or file.endswith("_test.py") or file in ("test_utils.py", "conftest.py"):
                continue
            rel = os.path.relpath(os.path.join(folder, file), root)[:-3].split(os.sep)
            if rel[-1] == "__init__":
                rel = rel[:-1]
            yield ".".join(["optax", *rel])


def _skipped(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in SKIPPED_MODULES)


def _ours() -> dict:
    import optfn

    ours = {n: getattr(optfn, n) for n in dir(optfn) if not n.startswith("_") and n != "sweep"}
    ours.update({theirs: ours[mine] for theirs, mine in OPTAX_NAMES.items()})
    return ours


def _recording(obj):
    @functools.wraps(obj)
    def call(*args, **kwargs):
        _TOUCHED[0] = True
        return obj(*args, **kwargs)

    call.__optfn__ = obj
    return call


def _is_ours(value, obj) -> bool:
    return value is obj or getattr(value, "__optfn__", None) is obj


def _optax_modules():
    return sorted((name, module) for name, module in list(sys.modules.items())
                  if module is not None and (name == "optax" or name.startswith("optax."))
                  and not name.endswith("_test") and "test_utils" not in name and not _skipped(name))


def substitute() -> dict:
    """Patch optax's modules in place; return ``{module: [names substituted]}``."""
    import optax

    for name in _module_names(os.path.dirname(optax.__file__)):
        if _skipped(name):
            continue
        try:
            importlib.import_module(name)
        except Exception:  # an optional dependency of some optax module (e.g. a missing extra)
            continue
    ours = _ours()
    done = {}
    for module_name, module in _optax_modules():
        for name, obj in ours.items():
            value = getattr(module, name, None)
            if value is None or inspect.ismodule(value) or _is_ours(value, obj):
                continue
            # classes (NamedTuple states) are put in as they are: isinstance and _replace must work
            setattr(module, name, obj if inspect.isclass(obj) or not callable(obj) else _recording(obj))
            done.setdefault(module_name, []).append(name)
    return done


def missed() -> list:
    """``module.name`` for every optfn name that an optax module holds but is not optfn's."""
    ours = _ours()
    return sorted(f"{module_name}.{name}" for module_name, module in _optax_modules()
                  for name, obj in ours.items()
                  if (value := getattr(module, name, None)) is not None and not inspect.ismodule(value)
                  and not _is_ours(value, obj))


def pytest_configure(config):
    config._optfn_substituted = substitute()
    config._optfn_missed = missed()


def _optimizer_of(item):
    """The ``opt_name`` an absl-parameterized alias test runs, or None."""
    params = getattr(getattr(item, "obj", None), "__x_params_repr__", "") or ""
    marker = "opt_name='"
    return params.split(marker, 1)[1].split("'", 1)[0] if marker in params else None


def pytest_collection_modifyitems(config, items):
    import optfn

    keep, drop = [], []
    for item in items:
        name = _optimizer_of(item) if "alias_test.py" in item.nodeid else None
        if name is None or hasattr(optfn, name) or name in KEPT_OPTAX_OPTIMIZERS:
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_collection_finish(session):
    # test modules are imported now: one that imported an optax module not loaded before
    # would have brought optax's own objects in with it
    session.config._optfn_missed = sorted(set(session.config._optfn_missed) | set(missed()))


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
        config = session.config
        with open(f"{path}.{os.environ.get('PYTEST_XDIST_WORKER', 'main')}", "w") as f:
            json.dump({"substituted": config._optfn_substituted,
                       "missed": sorted(set(config._optfn_missed) | set(missed())),
                       "tests": _OUTCOMES}, f, indent=1)
