"""``optfn sweep --task FILE.py:FUNCTION --space SPACE.toml``: sweep your own model.

The task function takes no arguments and returns a dict of the runner's pieces::

    def make_task():
        return {"init": init, "loss": loss, "optimizer": lambda hp: optfn.adam(hp["learning_rate"]),
                "data": {"x": x_train, "y": y_train},                  # required
                "evaluate": evaluate, "eval_data": {"x": x_val, "y": y_val},
                "test_data": {"x": x_test, "y": y_test},  # optional: the picks measured on it
                "has_state": False, "goal": "min", "metric_name": "validation loss",
                "metric": "loss",  # with an evaluate that returns a dict: the entry that ranks
                "batch_size": 64, "steps": 400, "sampling": "epochs"}  # defaults of those flags

A task's ``batch_size``, ``steps`` and ``sampling`` replace the flags' defaults; a flag
given on the command line wins. The bundled task's flags (``--optimizer``, ``--lr-min``,
``--hidden``, ...) do not apply to a task and are refused.

The space file is TOML: one table or value per hyperparameter, e.g.::

    learning_rate = { log_uniform = [1e-4, 1.0] }
    b1 = { one_minus_log_uniform = [0.9, 0.999] }
    hidden = { choice = [32, 64, 128] }
    layers = { int_uniform = [1, 3] }
    depth = { int_uniform = [2, 4], traced = true }  # one program for every value
    dropout = { uniform = [0.0, 0.5] }
    eps = 1e-8                                     # a fixed value
"""

import importlib
import importlib.util
import os

from .sweep import Space, choice, int_uniform, log_uniform, one_minus_log_uniform, uniform
from ._cli_checks import UsageError

REQUIRED = ("init", "loss", "optimizer", "data")
OPTIONAL = ("evaluate", "eval_data", "test_data", "has_state", "goal", "metric_name", "metric", "batch_size", "steps",
            "sampling")
FLAG_DEFAULTS = ("batch_size", "steps", "sampling")  # the task's values replace these flags' defaults
SAMPLERS = {"log_uniform": log_uniform, "one_minus_log_uniform": one_minus_log_uniform, "uniform": uniform,
            "int_uniform": int_uniform, "choice": None}


def load_task(spec: str) -> dict:
    """The dict returned by ``FILE.py:FUNCTION`` or ``module:FUNCTION``, checked."""
    where, _, name = spec.rpartition(":")
    if not where or not name:
        raise UsageError(f"--task {spec}: pass FILE.py:FUNCTION or module:FUNCTION, e.g. my_task.py:make_task.")
    try:
        if where.endswith(".py"):
            if not os.path.exists(where):
                raise UsageError(f"--task {spec}: no file {where}.")
            module_spec = importlib.util.spec_from_file_location(f"optfn_task_{abs(hash(where))}", where)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except UsageError:
        raise
    except Exception as e:
        raise UsageError(f"--task {spec}: importing {where} failed ({type(e).__name__}: {e}).") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise UsageError(f"--task {spec}: {where} has no function {name}.")
    try:
        task = fn()
    except Exception as e:
        raise UsageError(f"--task {spec}: {name}() raised {type(e).__name__}: {e}.") from None
    if not isinstance(task, dict):
        raise UsageError(f"--task {spec}: {name}() must return a dict with {list(REQUIRED)}, got {type(task).__name__}.")
    missing = [k for k in REQUIRED if k not in task]
    unknown = sorted(set(task) - set(REQUIRED) - set(OPTIONAL))
    if missing or unknown:
        raise UsageError(f"--task {spec}: {name}() returned a dict "
                         + (f"without {missing}" if missing else "")
                         + (" and " if missing and unknown else "")
                         + (f"with unknown keys {unknown} (allowed: {list(REQUIRED + OPTIONAL)})" if unknown else "")
                         + ".")
    return task


def load_space(path: str) -> Space:
    """The ``Space`` described by a TOML file (see the module docstring)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise UsageError("--space needs Python 3.11 (tomllib) or pip install tomli.") from None
    try:
        with open(path, "rb") as f:
            spec = tomllib.load(f)
    except OSError as e:
        raise UsageError(f"--space {path}: cannot be read ({e.strerror or e}).") from None
    except Exception as e:
        raise UsageError(f"--space {path}: not valid TOML ({e}).") from None
    if not spec:
        raise UsageError(f"--space {path}: defines no hyperparameter.")
    dims = {}
    for name, value in spec.items():
        if not isinstance(value, dict):
            dims[name] = value  # a fixed value
            continue
        value = dict(value)
        traced = value.pop("traced", False)
        if len(value) != 1 or next(iter(value)) not in SAMPLERS:
            raise UsageError(f"--space {path}: {name} must be one of {sorted(SAMPLERS)} = [...], or a fixed value; "
                             f"got {value}.")
        kind, args = next(iter(value.items()))
        if traced is not False and kind not in ("int_uniform", "choice"):
            raise UsageError(f"--space {path}: {name}: traced applies to int_uniform and choice (the others are "
                             f"traced already); got traced = {traced!r} with {kind}.")
        if not isinstance(args, list):
            raise UsageError(f"--space {path}: {name}.{kind} takes a list, e.g. {kind} = [low, high]; got {args!r}.")
        try:
            if kind in ("int_uniform", "choice"):
                dims[name] = (choice if kind == "choice" else int_uniform)(*args, traced=traced)
            else:
                dims[name] = SAMPLERS[kind](*args)
        except (TypeError, ValueError) as e:
            raise UsageError(f"--space {path}: {name}: {e}") from None
    return Space(dims)
