"""AdaGrad: per-coordinate steps shrinking with the sum of squared gradients."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from . import _check
from ._base import GradientTransformation
from ._chain import chain
from ._numerics import abs_sq, as_dtype, compute_dtype, full_like, map_leaves
from ._scale import scale_by_learning_rate


class ScaleByRssState(NamedTuple):
    """The running sum of squared gradients ``h``."""

    sum_of_squares: Any


def scale_by_rss(initial_accumulator_value=0.1, eps=1e-7) -> GradientTransformation:
    r"""AdaGrad's scaling: ``h = h + g**2``, ``u = g / sqrt(h + eps)`` (0 where ``h == 0``).

    Coordinates that have moved a lot take small steps; rarely moved ones take large
    steps. The step shrinks forever, which is why AdaGrad stalls on long runs.

    Args:
        initial_accumulator_value: starting ``h``, ``>= 0`` (optax's 0.1; Keras uses 0.1).
        eps: added inside the square root, ``>= 0``; traceable.

    Returns:
        A ``GradientTransformation`` with state ``ScaleByRssState``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.scale_by_rss(initial_accumulator_value=0.0, eps=0.0)
        >>> t.update(jnp.array([3.0]), t.init(jnp.zeros(1)))[0]
        Array([1.], dtype=float32)

    References:
        Duchi, Hazan and Singer, *Adaptive Subgradient Methods for Online Learning and
        Stochastic Optimization*, JMLR 2011.
    """
    fn = "scale_by_rss"
    _check.non_negative(fn, "initial_accumulator_value", initial_accumulator_value)
    _check.non_negative(fn, "eps", eps)

    def init(params):
        _check.float_params(fn, params)
        return ScaleByRssState(jax.tree.map(lambda p: full_like(p, initial_accumulator_value), params))

    def leaf(g, h):
        ct = compute_dtype(g.dtype)
        g32 = g.astype(ct)
        new_h = h.astype(ct) + abs_sq(g32)
        inv = jnp.where(new_h > 0, jax.lax.rsqrt(new_h + as_dtype(eps, ct)), 0)
        return (g32 * inv).astype(g.dtype), new_h.astype(h.dtype)

    def update(updates, state, params=None):
        del params
        _check.preamble(fn, state, ScaleByRssState, updates, "sum_of_squares", {"eps": eps})
        updates, h = map_leaves(leaf, updates, state.sum_of_squares, n_out=2)
        return updates, ScaleByRssState(h)

    return GradientTransformation(init, update)


def adagrad(learning_rate, initial_accumulator_value=0.1, eps=1e-7) -> GradientTransformation:
    r"""AdaGrad: ``h = h + g**2``, ``W = W - lr * g / sqrt(h + eps)``.

    Args:
        learning_rate: a number, traced array, schedule or tree of rates.
        initial_accumulator_value, eps: see ``scale_by_rss``.

    Returns:
        ``chain(scale_by_rss(...), scale_by_learning_rate(learning_rate))``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.adagrad(0.5, initial_accumulator_value=0.0, eps=0.0)
        >>> opt.update(jnp.array([-2.0]), opt.init(jnp.zeros(1)))[0]
        Array([0.5], dtype=float32)
    """
    return chain(scale_by_rss(initial_accumulator_value, eps), scale_by_learning_rate(learning_rate))
