"""AdaDelta: steps in units of the parameters, with no learning rate to tune."""

from typing import Any, NamedTuple

import jax.numpy as jnp

from . import _check
from ._base import GradientTransformation
from ._chain import chain
from ._moments import second_moment, zeros
from ._numerics import as_dtype, compute_dtype, map_leaves
from ._scale import scale_by_learning_rate
from ._weight_decay import add_decayed_weights


class ScaleByAdadeltaState(NamedTuple):
    """Moving averages of squared gradients ``E[g^2]`` and squared steps ``E[dx^2]``."""

    e_g: Any
    e_x: Any


def scale_by_adadelta(rho=0.9, eps=1e-6) -> GradientTransformation:
    r"""AdaDelta's scaling (Zeiler 2012, Algorithm 1).

    $$
    E[g^2]_t = \rho E[g^2]_{t-1} + (1-\rho) g_t^2, \quad
    \Delta_t = \frac{\sqrt{E[\Delta^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}} g_t, \quad
    E[\Delta^2]_t = \rho E[\Delta^2]_{t-1} + (1-\rho) \Delta_t^2
    $$

    The update is ``Delta`` (the parameter moves by ``-Delta`` once the learning rate
    flips the sign).

    Args:
        rho: decay of both averages, in [0, 1]; traceable.
        eps: added inside both roots, ``> 0`` (it starts the steps from zero); traceable.

    Returns:
        A ``GradientTransformation`` with state ``ScaleByAdadeltaState``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.scale_by_adadelta(rho=0.0, eps=1e-6)
        >>> t.update(jnp.array([1.0]), t.init(jnp.zeros(1)))[0]
        Array([0.001], dtype=float32)

    References:
        Zeiler, *ADADELTA: An Adaptive Learning Rate Method*, arXiv:1212.5701, 2012.
    """
    fn = "scale_by_adadelta"
    _check.decay_rate(fn, "rho", rho)
    _check.hyperparameter(fn, "eps", eps, low=0.0, low_open=True, hint="With eps=0 the first step is 0/0.")

    def init(params):
        _check.float_params(fn, params)
        return ScaleByAdadeltaState(zeros(params), zeros(params))

    def leaf(g, eg, ex):
        ct = compute_dtype(g.dtype)
        e, g32 = as_dtype(eps, ct), g.astype(ct)
        new_eg = second_moment(eg, g32, rho)
        delta = jnp.sqrt(ex.astype(ct) + e) / jnp.sqrt(new_eg + e) * g32
        new_ex = second_moment(ex, delta, rho)
        return delta.astype(g.dtype), new_eg.astype(eg.dtype), new_ex.astype(ex.dtype)

    def update(updates, state, params=None):
        del params
        _check.preamble(fn, state, ScaleByAdadeltaState, updates, "e_g", {"rho": rho, "eps": eps})
        updates, e_g, e_x = map_leaves(leaf, updates, state.e_g, state.e_x, n_out=3)
        return updates, ScaleByAdadeltaState(e_g, e_x)

    return GradientTransformation(init, update)


def adadelta(learning_rate=None, rho=0.9, eps=1e-6, weight_decay=0.0, weight_decay_mask=None) -> GradientTransformation:
    r"""AdaDelta: ``W = W - lr * Delta`` (see ``scale_by_adadelta``).

    ``learning_rate=None`` means 1.0, Zeiler's method as published, and descends
    (optax's ``adadelta(None)`` skips the sign flip and climbs the loss).

    Args:
        learning_rate: ``None`` (1.0), a number, traced array, schedule or tree of rates.
        rho, eps: see ``scale_by_adadelta``.
        weight_decay: decoupled weight decay added before the scaling, ``>= 0``.
        weight_decay_mask: which params decay (see ``add_decayed_weights``).

    Returns:
        A ``GradientTransformation``; its ``update`` needs ``params`` unless
        ``weight_decay`` is exactly 0.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.adadelta(rho=0.0)
        >>> opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))[0]
        Array([-0.001], dtype=float32)
    """
    _check.weight_decay("adadelta", weight_decay)
    # the weight-decay part is always there (as in optax), so the state has one structure
    # whatever the rate; a rate of exactly 0 needs no params
    return chain(add_decayed_weights(weight_decay, weight_decay_mask), scale_by_adadelta(rho, eps),
                 scale_by_learning_rate(learning_rate))
