"""Scaling by a constant, a learning rate, a schedule, or a per-leaf tree of rates."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from . import _check
from ._base import EmptyState, GradientTransformation
from ._numerics import as_dtype, compute_dtype, safe_increment, zero_count
from ._parametric_schedule import ParametricSchedule


class ScaleByScheduleState(NamedTuple):
    """The step count a schedule is evaluated at (int32, saturating)."""

    count: jax.Array


def _scale_leaf(u, factor):
    ct = compute_dtype(u.dtype)
    return (u.astype(ct) * as_dtype(factor, ct)).astype(u.dtype)


def scale(step_size) -> GradientTransformation:
    """Multiply every update by a constant: ``u -> step_size * u``.

    Args:
        step_size: a number or array (traceable).

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.scale(-0.5)
        >>> t.update(jnp.ones(2), t.init(jnp.ones(2)))[0]
        Array([-0.5, -0.5], dtype=float32)
    """
    _check.hyperparameter("scale", "step_size", step_size)

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        del params
        return jax.tree.map(lambda u: _scale_leaf(u, step_size), updates), state

    return GradientTransformation(init, update)


def _is_rate_leaf(x) -> bool:
    return callable(x) or isinstance(x, (int, float, jax.Array)) or hasattr(x, "__array__")


_PROBE_STEPS = (0, 10**9)  # the start, and past the end of any schedule's decay


def _check_schedule(fn: str, schedule) -> None:
    """A schedule used as a learning rate must not go negative: checked at its first step and
    far past its end (an optfn schedule is monotone between them or constant there), when its
    parameters are concrete."""
    if any(isinstance(v, jax.core.Tracer) for v in jax.tree.leaves(schedule.params)):
        return
    for step in _PROBE_STEPS:
        with jax.ensure_compile_time_eval():  # concrete parameters: evaluate now, even under jit
            value = float(jnp.min(schedule(step)))
        if not value >= 0:
            raise ValueError(
                f"{fn}: the learning-rate schedule {schedule!r} gives {value:g} at step {step}; a "
                "learning rate must be >= 0 (a negative one climbs the loss). Pass end values >= 0, "
                "or flip_sign=False to climb on purpose."
            )


def scale_by_learning_rate(learning_rate: Any = None, *, flip_sign: bool = True) -> GradientTransformation:
    """Scale by the negative learning rate: ``u -> -lr(t) * u``.

    ``learning_rate`` may be

    * a number or array (traceable, so ``jax.vmap`` over learning rates works);
    * a schedule, a function ``step -> rate`` called with the int32 count of previous
      updates (0 on the first update);
    * a pytree of rates, a prefix of the params tree, whose leaves are numbers, arrays
      or schedules: ``{"w": 1e-3, "b": 1e-2}`` gives each subtree its own rate.

    ``None`` means 1.0 (in optax it skips the sign flip too, which makes
    ``adadelta(learning_rate=None)`` climb the loss).

    Args:
        learning_rate: the rate, schedule or tree of rates; must be ``>= 0`` when static.
        flip_sign: keep ``True`` for descent; ``False`` scales by ``+lr`` (ascent).

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.scale_by_learning_rate({"w": 0.1, "b": 1.0})
        >>> g = {"w": jnp.ones(2), "b": jnp.ones(1)}
        >>> t.update(g, t.init(g))[0]
        {'b': Array([-1.], dtype=float32), 'w': Array([-0.1, -0.1], dtype=float32)}
    """
    _check.flag("scale_by_learning_rate", "flip_sign", flip_sign)
    fn = "scale_by_learning_rate"
    rates = 1.0 if learning_rate is None else learning_rate
    rate_leaves, rate_def = jax.tree.flatten(rates, is_leaf=_is_rate_leaf)
    for r in rate_leaves:
        if not callable(r):
            _check.hyperparameter(
                fn, "learning_rate", r, low=0.0,
                hint="To climb the objective instead, pass flip_sign=False.",
            )
        elif isinstance(r, ParametricSchedule) and flip_sign:
            _check_schedule(fn, r)
    scheduled = any(callable(r) for r in rate_leaves)
    sign = -1.0 if flip_sign else 1.0
    single = rate_def.num_leaves == 1 and rate_def.num_nodes == 1

    def init(params):
        _check.float_params(fn, params)
        if not single:
            try:
                rate_def.flatten_up_to(params)
            except (ValueError, TypeError) as e:
                raise ValueError(
                    f"{fn}: the tree of learning rates must be a prefix of the params "
                    f"tree (rates {rate_def} vs params {jax.tree.structure(params)}): {e}"
                ) from None
        return ScaleByScheduleState(zero_count()) if scheduled else EmptyState()

    def update(updates, state, params=None):
        del params
        _check.state_type(fn, state, ScaleByScheduleState if scheduled else EmptyState)
        count = state.count if scheduled else None
        now = [sign * (r(count) if callable(r) else r) for r in rate_leaves]
        if single:
            _check.hyper_shapes(fn, {"learning_rate": now[0]}, updates)
            updates = jax.tree.map(lambda u: _scale_leaf(u, now[0]), updates)
        else:
            subtrees = rate_def.flatten_up_to(updates)
            for r, sub in zip(now, subtrees):
                _check.hyper_shapes(fn, {"learning_rate": r}, sub)
            updates = rate_def.unflatten(
                [jax.tree.map(lambda u, r=r: _scale_leaf(u, r), sub) for r, sub in zip(now, subtrees)]
            )
        new_state = ScaleByScheduleState(safe_increment(count)) if scheduled else state
        return updates, new_state

    return GradientTransformation(init, update)


def scale_by_schedule(step_size_fn) -> GradientTransformation:
    """Multiply updates by ``step_size_fn(count)``, with no sign flip.

    Args:
        step_size_fn: a function from the int32 update count (0 first) to a factor.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.scale_by_schedule(lambda n: 0.5**n)  # n = 0, 1, 2, ...
        >>> s = t.init(jnp.ones(1))
        >>> u, s = t.update(jnp.ones(1), s); u, s = t.update(jnp.ones(1), s); u
        Array([0.5], dtype=float32)
    """
    if not callable(step_size_fn):
        raise TypeError(
            f"scale_by_schedule: step_size_fn must be a function of the step count, got "
            f"{step_size_fn!r}; for a constant factor use optfn.scale."
        )
    return scale_by_learning_rate(step_size_fn, flip_sign=False)
