"""RMSProp: scaling by the root of a moving average of squared gradients."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from . import _check
from ._base import GradientTransformation, identity
from ._chain import chain
from ._moments import debiased, ema, second_moment
from ._numerics import abs_sq, as_dtype, compute_dtype, full_like, map_leaves, zero_count
from ._scale import scale_by_learning_rate
from ._sgd import trace


class ScaleByRmsState(NamedTuple):
    """The update count and the moving average of squared gradients ``S``."""

    count: jax.Array
    nu: Any


class ScaleByStddevState(NamedTuple):
    """The update count and moving averages of the gradients ``M`` and their squares ``S``."""

    count: jax.Array
    mu: Any
    nu: Any


def _check_rms_args(fn, decay, eps, initial_scale):
    # decay=1 never updates the average: with initial_scale=0 the first step is g / sqrt(eps)
    _check.decay_rate(fn, "decay", decay, high_open=True)
    _check.non_negative(fn, "eps", eps)
    _check.non_negative(fn, "initial_scale", initial_scale)


def _denominator(ms, eps, eps_in_sqrt):
    return jnp.sqrt(ms + eps) if eps_in_sqrt else jnp.sqrt(ms) + eps


def scale_by_rms(
    decay=0.9, eps=1e-8, initial_scale=0.0, eps_in_sqrt: bool = True, bias_correction: bool = False
) -> GradientTransformation:
    r"""RMSProp's scaling: ``S = decay * S + (1 - decay) * g**2``, ``u = g / sqrt(S + eps)``.

    With ``eps_in_sqrt=False`` the update is ``g / (sqrt(S) + eps)``: the lecture notes'
    and PyTorch's form. With ``bias_correction=True``, ``S`` is divided by
    ``1 - decay**t`` first.

    Args:
        decay: averaging weight of past squared gradients, in [0, 1]; traceable.
        eps: added inside (or outside) the square root, ``>= 0``; traceable.
        initial_scale: starting value of ``S``, ``>= 0``.
        eps_in_sqrt: where ``eps`` goes (optax's default is inside).
        bias_correction: divide ``S`` by ``1 - decay**t``.

    Returns:
        A ``GradientTransformation`` with state ``ScaleByRmsState``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.scale_by_rms(decay=0.75, eps=0.0)
        >>> t.update(jnp.array([2.0]), t.init(jnp.zeros(1)))[0]
        Array([2.], dtype=float32)

    References:
        Hinton, *Neural Networks for Machine Learning*, lecture 6e, 2012.
    """
    _check.flag("scale_by_rms", "eps_in_sqrt", eps_in_sqrt)
    _check.flag("scale_by_rms", "bias_correction", bias_correction)
    fn = "scale_by_rms"
    _check_rms_args(fn, decay, eps, initial_scale)

    def init(params):
        _check.float_params(fn, params)
        return ScaleByRmsState(zero_count(), jax.tree.map(lambda p: full_like(p, initial_scale), params))

    def update(updates, state, params=None):
        del params
        count = _check.preamble(fn, state, ScaleByRmsState, updates, "nu",
                                {"decay": decay, "eps": eps})

        def leaf(g, s):
            ct = compute_dtype(g.dtype)
            g32 = g.astype(ct)
            new_s = second_moment(s, g32, decay)
            s_hat = debiased(new_s, decay, count) if bias_correction else new_s
            u = g32 / _denominator(s_hat, as_dtype(eps, ct), eps_in_sqrt)
            return u.astype(g.dtype), new_s.astype(s.dtype)

        updates, nu = map_leaves(leaf, updates, state.nu, n_out=2)
        return updates, ScaleByRmsState(count, nu)

    return GradientTransformation(init, update)



def scale_by_stddev(
    decay=0.9, eps=1e-8, initial_scale=0.0, eps_in_sqrt: bool = True, bias_correction: bool = False
) -> GradientTransformation:
    r"""Centered RMSProp: divide by an estimate of the gradient's standard deviation.

    ``M = decay * M + (1 - decay) * g``, ``S = decay * S + (1 - decay) * g**2``,
    ``u = g / sqrt(S - M**2 + eps)`` (or ``g / (sqrt(S - M**2) + eps)``).

    Args:
        decay, eps, initial_scale, eps_in_sqrt, bias_correction: as in ``scale_by_rms``.

    Returns:
        A ``GradientTransformation`` with state ``ScaleByStddevState``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.scale_by_stddev(decay=0.5, eps=0.0)
        >>> t.update(jnp.array([2.0]), t.init(jnp.zeros(1)))[0]
        Array([2.], dtype=float32)

    References:
        Graves, *Generating sequences with recurrent neural networks*, 2013, eq. 38.
    """
    _check.flag("scale_by_stddev", "eps_in_sqrt", eps_in_sqrt)
    _check.flag("scale_by_stddev", "bias_correction", bias_correction)
    fn = "scale_by_stddev"
    _check_rms_args(fn, decay, eps, initial_scale)

    def init(params):
        _check.float_params(fn, params)
        mu = jax.tree.map(lambda p: full_like(p, 0), params)
        nu = jax.tree.map(lambda p: full_like(p, initial_scale), params)
        return ScaleByStddevState(zero_count(), mu, nu)

    def update(updates, state, params=None):
        del params
        count = _check.preamble(fn, state, ScaleByStddevState, updates, "nu",
                                {"decay": decay, "eps": eps})

        def leaf(g, m, s):
            ct = compute_dtype(g.dtype)
            g32 = g.astype(ct)
            new_m, new_s = ema(m, g32, decay), second_moment(s, g32, decay)
            m_hat, s_hat = new_m, new_s
            if bias_correction:
                m_hat, s_hat = debiased(new_m, decay, count), debiased(new_s, decay, count)
            u = g32 / _denominator(s_hat - abs_sq(m_hat), as_dtype(eps, ct), eps_in_sqrt)
            return u.astype(g.dtype), new_m.astype(m.dtype), new_s.astype(s.dtype)

        updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, n_out=3)
        return updates, ScaleByStddevState(count, mu, nu)

    return GradientTransformation(init, update)


def rmsprop(
    learning_rate,
    decay=0.9,
    eps=1e-8,
    initial_scale=0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum=None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> GradientTransformation:
    r"""RMSProp: ``S = decay S + (1 - decay) g**2``, ``W = W - lr * g / sqrt(S + eps)``.

    ``centered=True`` divides by the standard deviation instead (``scale_by_stddev``);
    ``momentum`` adds heavy-ball (or ``nesterov``) momentum after the learning rate, as
    in optax and PyTorch.

    Args:
        learning_rate: a number, traced array, schedule or tree of rates.
        decay, eps, initial_scale, eps_in_sqrt, bias_correction: see ``scale_by_rms``.
        centered: use the centered variant.
        momentum: ``None`` or the momentum coefficient in [0, 1].
        nesterov: Nesterov form of the momentum.

    Returns:
        A ``GradientTransformation``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.rmsprop(0.01, eps_in_sqrt=False)
        >>> opt.update(jnp.array([3.0]), opt.init(jnp.zeros(1)))[0].round(4)
        Array([-0.0316], dtype=float32)
    """
    _check.learning_rate("rmsprop", learning_rate)
    _check.flag("rmsprop", "eps_in_sqrt", eps_in_sqrt)
    _check.flag("rmsprop", "centered", centered)
    _check.flag("rmsprop", "nesterov", nesterov)
    _check.flag("rmsprop", "bias_correction", bias_correction)
    scaling = scale_by_stddev if centered else scale_by_rms
    return chain(
        scaling(decay, eps, initial_scale, eps_in_sqrt, bias_correction),
        scale_by_learning_rate(learning_rate),
        identity() if momentum is None else trace(momentum, nesterov),
    )
