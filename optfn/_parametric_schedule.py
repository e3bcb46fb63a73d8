"""A schedule whose numeric parameters are data, so they can live in optimizer state."""

from typing import Any, Callable, Mapping

import jax


class ParametricSchedule:
    """A schedule ``step -> value_fn(params, step)`` that keeps its parameters apart.

    Every schedule optfn builds is one. Calling it is calling any schedule; the
    difference is that ``params`` (a dict, possibly nested, of the schedule's numeric
    arguments) can be read and swapped with ``replace`` while the step function stays
    the same. ``inject_hyperparams`` uses this to store, say, the peak of a warm-up
    cosine in the optimizer state, where it can be changed between steps without
    recompiling.

    Wrap a schedule of your own the same way to make its parameters injectable.

    Args:
        value_fn: ``(params, step) -> value``; must not branch in Python on ``params``.
        params: a dict of numbers or arrays (nested dicts and tuples allowed).

    Example:
        >>> import optfn
        >>> halving = optfn.ParametricSchedule(lambda p, t: p["a"] * 0.5 ** t, {"a": 1.0})
        >>> print(float(halving(2)), float(halving.replace({"a": 4.0})(2)))
        0.25 1.0
    """

    # __weakref__: jax.jit and jax.eval_shape keep weak references to the callables they trace
    __slots__ = ("value_fn", "params", "__weakref__")

    def __init__(self, value_fn: Callable[[Any, Any], jax.Array], params: Mapping[str, Any]):
        if not callable(value_fn):
            raise TypeError(f"ParametricSchedule: value_fn must be a function (params, step) -> value, got {value_fn!r}.")
        if not isinstance(params, Mapping):
            raise TypeError(f"ParametricSchedule: params must be a dict of numbers or arrays, got {params!r}.")
        self.value_fn = value_fn
        self.params = dict(params)

    def __call__(self, step) -> jax.Array:
        return self.value_fn(self.params, step)

    def replace(self, params: Mapping[str, Any]) -> "ParametricSchedule":
        """The same schedule with new parameter values (same structure; may be traced)."""
        old, new = jax.tree.structure(self.params), jax.tree.structure(dict(params))
        if old != new:
            raise ValueError(
                f"ParametricSchedule.replace: the new params must have the structure of the "
                f"old ones, {old}, got {new}."
            )
        return ParametricSchedule(self.value_fn, params)

    def __repr__(self) -> str:
        name = getattr(self.value_fn, "__qualname__", "schedule").split(".<locals>")[0]
        return f"ParametricSchedule({name}, {self.params!r})"
