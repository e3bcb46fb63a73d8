"""The moving-average form of momentum: an exponential moving average of the gradients."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from . import _check, _moments
from ._base import GradientTransformation
from ._numerics import compute_dtype, full_like, map_leaves, zero_count


class EmaState(NamedTuple):
    """The update count and the moving average ``V``."""

    count: jax.Array
    ema: Any


def ema(decay, debias: bool = True, accumulator_dtype: Optional[Any] = None) -> GradientTransformation:
    r"""Exponential moving average of the updates: ``V = decay * V + (1 - decay) * g``.

    The update is ``V``, or ``V / (1 - decay**t)`` with ``debias=True`` (the default,
    as in optax), which removes the pull towards the zero start over the first
    ``~1 / (1 - decay)`` steps. ``chain(ema(b, debias=False), scale_by_learning_rate(lr))``
    is the lecture notes' momentum ``V = b V + (1 - b) dW; W = W - lr V``; it equals
    ``sgd(lr * (1 - b), momentum=b)`` step for step.

    Args:
        decay: the averaging weight ``b``, in [0, 1] (typical 0.9); traceable.
        debias: divide by ``1 - decay**t``.
        accumulator_dtype: dtype of ``V``; ``None`` keeps the params' dtype.

    Returns:
        A ``GradientTransformation`` with state ``EmaState``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.ema(0.9, debias=False)
        >>> print(t.update(jnp.ones(1), t.init(jnp.zeros(1)))[0])
        [0.1]
    """
    _check.flag("ema", "debias", debias)
    _check.dtype_arg("ema", "accumulator_dtype", accumulator_dtype)
    _check.decay_rate("ema", "decay", decay, high_open=True)
    acc_dtype = None if accumulator_dtype is None else jnp.dtype(accumulator_dtype)

    def init(params):
        _check.float_params("ema", params)
        return EmaState(zero_count(), jax.tree.map(lambda p: full_like(p, 0, acc_dtype), params))

    def update(updates, state, params=None):
        del params
        count = _check.preamble("ema", state, EmaState, updates, "ema", {"decay": decay})

        def leaf(g, v):
            ct = compute_dtype(g.dtype)
            new_v = _moments.ema(v, g.astype(ct), decay)
            u = _moments.debiased(new_v, decay, count) if debias else new_v
            return u.astype(g.dtype), new_v.astype(v.dtype)

        updates, new_ema = map_leaves(leaf, updates, state.ema, n_out=2)
        return updates, EmaState(count, new_ema)

    return GradientTransformation(init, update)
