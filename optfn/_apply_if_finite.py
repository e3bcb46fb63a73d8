"""Skip an update whose gradients hold an inf or a NaN (a few times, then give up)."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from . import _check
from ._base import GradientTransformationExtraArgs
from ._extra_args import with_extra_args_support
from ._numerics import safe_increment, zero_count


class ApplyIfFiniteState(NamedTuple):
    """Consecutive non-finite updates, whether the last was finite, the total of non-finite
    ones, and the wrapped optimizer's state."""

    notfinite_count: jax.Array
    last_finite: jax.Array
    total_notfinite: jax.Array
    inner_state: Any


def apply_if_finite(inner, max_consecutive_errors) -> GradientTransformationExtraArgs:
    r"""``inner``, but a gradient with an inf or a NaN gives a zero update and leaves the state alone.

    After more than ``max_consecutive_errors`` such gradients in a row the update is
    applied anyway (the run is broken; hiding it longer helps nobody). In a sweep, a
    trial's divergence is still recorded by its status: this guards one bad batch.
    ``max_consecutive_errors`` may be traced. As ``optax.apply_if_finite``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.apply_if_finite(optfn.sgd(1.0), max_consecutive_errors=2)
        >>> u, s = opt.update(jnp.array([jnp.inf]), opt.init(jnp.zeros(1)))
        >>> u, int(s.notfinite_count)
        (Array([0.], dtype=float32), 1)
    """
    fn = "apply_if_finite"
    _check.transformation(fn, "inner", inner)
    if isinstance(max_consecutive_errors, bool) or not isinstance(max_consecutive_errors, (int, jax.Array)) or (
            isinstance(max_consecutive_errors, int) and max_consecutive_errors < 0):
        raise TypeError(f"{fn}: max_consecutive_errors must be an int >= 0, got "
                        f"max_consecutive_errors={max_consecutive_errors!r}.")
    inner = with_extra_args_support(inner)

    def init(params):
        return ApplyIfFiniteState(zero_count(), jnp.array(True), zero_count(), inner.init(params))

    def update(updates, state, params=None, **extra_args):
        _check.state_type(fn, state, ApplyIfFiniteState)
        finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(u)) for u in jax.tree.leaves(updates)], bool))
        count = jnp.where(finite, 0, safe_increment(state.notfinite_count))
        apply = jnp.logical_or(finite, count > max_consecutive_errors)
        new, inner_state = inner.update(updates, state.inner_state, params, **extra_args)
        new = jax.tree.map(lambda n: jnp.where(apply, n, jnp.zeros_like(n)), new)
        inner_state = jax.tree.map(lambda n, o: jnp.where(apply, n, o).astype(jnp.asarray(o).dtype),
                                   inner_state, state.inner_state)
        total = jnp.where(finite, state.total_notfinite, safe_increment(state.total_notfinite))
        return new, ApplyIfFiniteState(count, finite, total, inner_state)

    return GradientTransformationExtraArgs(init, update)
