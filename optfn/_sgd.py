"""Heavy-ball momentum (``trace``) and stochastic gradient descent (``sgd``)."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from . import _check
from ._base import GradientTransformation, identity
from ._chain import chain
from ._numerics import as_dtype, compute_dtype, full_like, map_leaves
from ._scale import scale_by_learning_rate


class TraceState(NamedTuple):
    """The momentum buffer ``t``, one array per parameter."""

    trace: Any


def trace(decay, nesterov: bool = False, accumulator_dtype: Optional[Any] = None) -> GradientTransformation:
    r"""Heavy-ball momentum: ``t = g + decay * t``; the update is ``t``.

    Followed by the learning rate this is the lecture notes' momentum
    ``v = decay * v - lr * g; W = W + v`` (with ``v = -lr * t``). With ``nesterov=True``
    the update is ``g + decay * t`` after ``t`` is refreshed, the reformulation of
    Nesterov's accelerated gradient by Bengio et al. (2013):
    ``W = W + decay * v - lr * g``.

    Args:
        decay: the momentum coefficient, in [0, 1] (typical 0.9); traceable.
        nesterov: use Nesterov's look-ahead form.
        accumulator_dtype: dtype of ``t``; ``None`` keeps the params' dtype.

    Returns:
        A ``GradientTransformation`` with state ``TraceState``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.trace(0.9)
        >>> s = t.init(jnp.zeros(1))
        >>> u, s = t.update(jnp.ones(1), s); u, s = t.update(jnp.ones(1), s); u
        Array([1.9], dtype=float32)

    References:
        Polyak, 1964; Sutskever et al., *On the importance of initialization and
        momentum in deep learning*, 2013; Bengio et al., *Advances in optimizing
        recurrent networks*, 2013.
    """
    _check.flag("trace", "nesterov", nesterov)
    _check.dtype_arg("trace", "accumulator_dtype", accumulator_dtype)
    _check.decay_rate("trace", "decay", decay)
    acc_dtype = None if accumulator_dtype is None else jnp.dtype(accumulator_dtype)

    def init(params):
        _check.float_params("trace", params)
        return TraceState(jax.tree.map(lambda p: full_like(p, 0, acc_dtype), params))

    def leaf(g, t):
        ct = compute_dtype(g.dtype)
        d = as_dtype(decay, ct)
        new_t = g.astype(ct) + d * t.astype(ct)
        u = g.astype(ct) + d * new_t if nesterov else new_t
        return u.astype(g.dtype), new_t.astype(t.dtype)

    def update(updates, state, params=None):
        del params
        _check.preamble("trace", state, TraceState, updates, "trace", {"decay": decay})
        updates, new_trace = map_leaves(leaf, updates, state.trace, n_out=2)
        return updates, TraceState(new_trace)

    return GradientTransformation(init, update)


def sgd(learning_rate, momentum=None, nesterov: bool = False, accumulator_dtype: Optional[Any] = None) -> GradientTransformation:
    r"""Stochastic gradient descent, with optional heavy-ball or Nesterov momentum.

    Without momentum: ``W = W - lr * g``. With ``momentum=a``:
    ``v = a * v - lr * g; W = W + v`` (see ``trace``).

    Args:
        learning_rate: a number, traced array, schedule or tree of rates.
        momentum: ``None`` for plain SGD, or the momentum coefficient in [0, 1].
        nesterov: Nesterov's look-ahead form of momentum.
        accumulator_dtype: dtype of the momentum buffer.

    Returns:
        ``chain(trace(momentum, nesterov), scale_by_learning_rate(learning_rate))``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.sgd(0.1, momentum=0.9)
        >>> u, _ = opt.update(jnp.ones(2), opt.init(jnp.zeros(2)))
        >>> u
        Array([-0.1, -0.1], dtype=float32)
    """
    _check.learning_rate("sgd", learning_rate)
    _check.flag("sgd", "nesterov", nesterov)
    _check.dtype_arg("sgd", "accumulator_dtype", accumulator_dtype)
    return chain(
        identity() if momentum is None else trace(momentum, nesterov, accumulator_dtype),
        scale_by_learning_rate(learning_rate),
    )
