"""Checks that turn static mistakes into clear errors at construction or trace time.

Values that are traced (inside ``jit`` or ``vmap``) are never checked here: checking
them would need a host round trip or a Python branch on data. Only Python numbers and
NumPy values, which are known when the optimizer is built, are checked.
"""

import numbers
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ._numerics import safe_increment

_STATIC_NUMBERS = (numbers.Number, np.ndarray, np.generic)


def hyperparameter(
    fn: str,
    name: str,
    value: Any,
    *,
    low: Optional[float] = None,
    high: Optional[float] = None,
    low_open: bool = False,
    high_open: bool = False,
    hint: str = "",
) -> None:
    """Raise if a static numeric hyperparameter is not finite or lies outside its range.

    Traced arrays and concrete JAX arrays pass unchecked; strings, ``None`` and other
    non-numbers raise ``TypeError``.
    """
    if isinstance(value, bool) or not isinstance(value, (*_STATIC_NUMBERS, jax.Array)):
        raise TypeError(
            f"{fn}: {name} must be a number or an array, got {name}={value!r} "
            f"of type {type(value).__name__}."
        )
    if not isinstance(value, _STATIC_NUMBERS):
        return  # a JAX array, possibly traced: checked by nobody, by design
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{fn}: {name} must be numeric, got {name}={value!r}.")
    if np.iscomplexobj(arr):
        raise TypeError(f"{fn}: {name} must be a real number, got {name}={value!r}; pass its real value.")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{fn}: {name} must be finite, got {name}={value!r}.")
    below = arr <= low if (low is not None and low_open) else (arr < low if low is not None else False)
    above = arr >= high if (high is not None and high_open) else (arr > high if high is not None else False)
    if np.any(below) or np.any(above):
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        interval = f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"
        raise ValueError(
            f"{fn}: {name} must lie in {interval}, got {name}={value!r}."
            + (f" {hint}" if hint else "")
        )


def flag(fn: str, name: str, value: Any) -> None:
    """A structural switch must be a real bool: ``nesterov="no"`` is truthy, not False."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fn}: {name} must be True or False, got {name}={value!r}.")


def dtype_arg(fn: str, name: str, value: Any) -> None:
    """``None`` or a floating (or complex) dtype for a moment; an integer one would truncate."""
    if value is None:
        return
    try:
        dtype = jnp.dtype(value)
    except TypeError:
        raise TypeError(f"{fn}: {name} must be None or a dtype such as jnp.float32 or jnp.bfloat16, "
                        f"got {name}={value!r}.") from None
    if not jnp.issubdtype(dtype, jnp.inexact):
        raise TypeError(f"{fn}: {name} must be a floating dtype (jnp.float32, jnp.bfloat16, ...), got "
                        f"{name}={value!r}; an integer moment would be truncated to zero.")


def learning_rate(fn: str, value: Any) -> None:
    """A learning rate is required by every alias but adadelta (where None means 1.0)."""
    if value is None:
        raise TypeError(f"{fn}: learning_rate is required, got learning_rate=None; pass a number, an "
                        "array or a schedule, e.g. 1e-3.")


def decay_rate(fn: str, name: str, value: Any, *, high_open: bool = False) -> None:
    """A moving-average decay: in [0, 1] (or [0, 1) where 1 would divide by zero)."""
    hyperparameter(
        fn, name, value, low=0.0, high=1.0, high_open=high_open,
        hint="It is the weight kept from the past each step; typical values are 0.9 to 0.999.",
    )


def non_negative(fn: str, name: str, value: Any, hint: str = "") -> None:
    hyperparameter(fn, name, value, low=0.0, hint=hint)


def weight_decay(fn: str, value: Any, name: str = "weight_decay") -> None:
    """An optimizer's weight decay: ``>= 0`` when static; a schedule passes (to ``add_decayed_weights``)."""
    if not callable(value):
        non_negative(fn, name, value, hint="Pass 0.0 to turn weight decay off.")


def _paths(tree) -> list[str]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return [jax.tree_util.keystr(path) for path, _ in leaves]


def _listing(items, limit=6):
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def same_structure(fn: str, got_name: str, got, want_name: str, want, shapes: bool = True) -> None:
    """Raise ``ValueError`` naming the leaf paths where two pytrees disagree.

    Structures must match exactly and, with ``shapes``, leaves must have equal shapes.
    """
    got_def, want_def = jax.tree.structure(got), jax.tree.structure(want)
    if got_def != want_def:
        got_paths, want_paths = _paths(got), _paths(want)
        missing = [p for p in want_paths if p not in set(got_paths)]
        extra = [p for p in got_paths if p not in set(want_paths)]
        detail = []
        if missing:
            detail.append(f"missing from {got_name}: {_listing(missing)}")
        if extra:
            detail.append(f"not in {want_name}: {_listing(extra)}")
        if not detail:
            detail.append(f"same leaf paths but different containers: {got_def} vs {want_def}")
        raise ValueError(
            f"{fn}: the structure of {got_name} differs from {want_name} ("
            + "; ".join(detail)
            + "). Pass gradients with exactly the structure of the params the state "
            "was initialised with, or call init again with the new params."
        )
    if got_name == "updates":  # gradients of integer leaves are not defined: updates would be 0
        ints = [f"{p or '<root>'} ({jnp.result_type(a)})" for p, a in zip(_paths(got), jax.tree.leaves(got))
                if not jnp.issubdtype(jnp.result_type(a), jnp.inexact)]
        if ints:
            raise TypeError(f"{fn}: updates must be floating point, got {_listing(ints)}. Cast the "
                            "gradients with .astype(jnp.float32) (an integer update rounds to zero).")
    bad = [
        f"{p}: {jnp.shape(a)} vs {jnp.shape(b)}"
        for p, a, b in zip(_paths(got), jax.tree.leaves(got), jax.tree.leaves(want))
        if shapes and jnp.shape(a) != jnp.shape(b)
    ]
    if bad:
        raise ValueError(
            f"{fn}: leaf shapes of {got_name} differ from {want_name} at {_listing(bad)}. "
            "Pass gradients shaped like the params the state was initialised with."
        )


def hyper_shapes(fn: str, values: dict, updates) -> None:
    """Raise ``ValueError`` when an array hyperparameter does not fit every leaf it scales.

    A scalar fits everything; an array must broadcast to each leaf's shape (one value per
    element). Checked on shapes only, at trace time.
    """
    for name, value in values.items():
        shape = tuple(np.shape(value)) if not callable(value) else ()
        if not shape:
            continue
        for path, leaf in jax.tree_util.tree_flatten_with_path(updates)[0]:
            leaf_shape = tuple(np.shape(leaf))
            try:
                fits = np.broadcast_shapes(shape, leaf_shape) == leaf_shape
            except ValueError:
                fits = False
            if not fits:
                raise ValueError(
                    f"{fn}: {name} has shape {shape}, which does not fit the leaf "
                    f"{jax.tree_util.keystr(path) or '<root>'} of shape {leaf_shape}. Pass a scalar (the same "
                    f"value everywhere), an array that broadcasts to every leaf, or, for one value per "
                    f"parameter group, a tree of rates shaped like the params (learning_rate)."
                )


def float_params(fn: str, params) -> None:
    """Raise ``TypeError`` if any parameter leaf is not floating point."""
    bad = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        dtype = getattr(leaf, "dtype", None)
        dtype = jnp.dtype(dtype) if dtype is not None else jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.inexact):
            bad.append(f"{jax.tree_util.keystr(path) or '<root>'} ({dtype})")
    if bad:
        raise TypeError(
            f"{fn}: parameters must be floating point, got {_listing(bad)}. Gradients of "
            "integer or boolean leaves are not defined: cast them with "
            ".astype(jnp.float32), or keep counters and masks out of the params tree."
        )


def state_type(fn: str, state, expected: type) -> None:
    """Raise ``TypeError`` if ``state`` was not made by the matching ``init``."""
    if state is None and expected.__name__ == "EmptyState":
        return  # a stateless transform: optax code passes None for its state
    if not isinstance(state, expected):
        raise TypeError(
            f"{fn}: expected a {expected.__name__}, got a {type(state).__name__}. Pass "
            "the state returned by this same optimizer's init; a state from another "
            "optimizer or another chain does not fit."
        )


def transformation(fn: str, name: str, value, example: str = "optfn.adam(1e-3)") -> None:
    """A gradient transformation: an object with callable ``init`` and ``update``."""
    if not (callable(getattr(value, "init", None)) and callable(getattr(value, "update", None))):
        raise TypeError(f"{fn}: {name} must be a gradient transformation (with init and update), got {value!r}; "
                        f"pass e.g. {example}.")


def step_count(fn: str, name: str, value, hint: str = "") -> None:
    """A number of steps: a positive int when static (2.5 steps would be cut to 2 silently);
    an int array, traced or not, passes."""
    if isinstance(value, jax.Array):
        if not jnp.issubdtype(value.dtype, jnp.integer):
            raise TypeError(f"{fn}: {name} must be an integer, got an array of dtype {value.dtype}.")
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise TypeError(f"{fn}: {name} must be a positive int, got {name}={value!r}." + (f" {hint}" if hint else ""))


def preamble(fn: str, state, expected: type, updates, like: str, hypers: dict, *, shapes: bool = True):
    """What every stateful ``update`` checks first, and its new count.

    The state must be this transformation's (``expected``), the updates must have the
    structure (and, with ``shapes``, the shapes) of its field ``like`` (a moment), and each
    hyperparameter in ``hypers`` must fit the leaves. Returns ``safe_increment(state.count)``,
    or ``None`` for a state without a count.
    """
    state_type(fn, state, expected)  # first: another optimizer's state may lack the field
    same_structure(fn, "updates", updates, "the state", getattr(state, like), shapes=shapes)
    hyper_shapes(fn, hypers, updates)
    return safe_increment(state.count) if "count" in expected._fields else None
