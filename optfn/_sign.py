"""Sign methods: signSGD, signum (the sign of a momentum) and Lion."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from . import _check, _moments
from ._base import EmptyState, GradientTransformation
from ._chain import chain
from ._ema import ema
from ._numerics import as_dtype, compute_dtype, map_leaves, zero_count
from ._scale import scale_by_learning_rate
from ._weight_decay import add_decayed_weights


def scale_by_sign() -> GradientTransformation:
    r"""Keep only the sign of each coordinate: ``u = sign(g)`` (0 where ``g = 0``).

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> optfn.scale_by_sign().update(jnp.array([0.3, -2.0, 0.0]), optfn.EmptyState())[0]
        Array([ 1., -1.,  0.], dtype=float32)
    """
    fn = "scale_by_sign"

    def init(params):
        _check.float_params(fn, params)
        return EmptyState()

    def update(updates, state, params=None):
        del params
        _check.state_type(fn, state, EmptyState)
        return jax.tree.map(jnp.sign, updates), state

    return GradientTransformation(init, update)


def sign_sgd(learning_rate) -> GradientTransformation:
    r"""signSGD (Bernstein et al., 2018): ``W = W - lr * sign(g)``.

    Args:
        learning_rate: a number, traced array, schedule or tree of rates.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.sign_sgd(0.1)
        >>> opt.update(jnp.array([3.0, -0.01]), opt.init(jnp.zeros(2)))[0]
        Array([-0.1,  0.1], dtype=float32)

    References:
        Bernstein et al., *signSGD: Compressed Optimisation for Non-Convex Problems*, ICML 2018.
    """
    _check.learning_rate("sign_sgd", learning_rate)
    return chain(scale_by_sign(), scale_by_learning_rate(learning_rate))


def signum(learning_rate, beta=0.9, accumulator_dtype: Optional[Any] = None) -> GradientTransformation:
    r"""Signum (Bernstein et al., 2018): the sign of a momentum,

    $$ m_t = \beta m_{t-1} + (1 - \beta) g_t, \qquad W = W - lr \cdot \mathrm{sign}(m_t). $$

    The moving average is not debiased: its sign does not change.

    Args:
        learning_rate: a number, traced array, schedule or tree of rates.
        beta: the momentum's decay, in [0, 1]; traceable.
        accumulator_dtype: dtype of ``m``; ``None`` keeps the params' dtype.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.signum(0.1)
        >>> opt.update(jnp.array([3.0, -0.01]), opt.init(jnp.zeros(2)))[0]
        Array([-0.1,  0.1], dtype=float32)

    References:
        Bernstein et al., *signSGD: Compressed Optimisation for Non-Convex Problems*, ICML 2018.
    """
    _check.learning_rate("signum", learning_rate)
    _check.decay_rate("signum", "beta", beta)
    return chain(ema(beta, debias=False, accumulator_dtype=accumulator_dtype), scale_by_sign(),
                 scale_by_learning_rate(learning_rate))


class ScaleByLionState(NamedTuple):
    """The update count (int32, saturating) and the momentum ``m``."""

    count: jax.Array
    mu: Any


_LION_MODES = ("hard", "smooth", "refined")


def scale_by_lion(b1=0.9, b2=0.99, mu_dtype: Optional[Any] = None, *, mode: str = "hard",
                  smooth_beta=1.0) -> GradientTransformation:
    r"""Lion's scaling (Chen et al., 2023, Algorithm 2):

    $$ u_t = \mathrm{sign}(\beta_1 m_{t-1} + (1 - \beta_1) g_t), \qquad
       m_t = \beta_2 m_{t-1} + (1 - \beta_2) g_t. $$

    The sign interpolates with ``b1``; the momentum kept decays with ``b2``. ``mode``
    chooses the sign (optax's variants, with ``x = \beta_1 m_{t-1} + (1 - \beta_1) g_t``):
    ``"hard"`` is ``sign(x)``; ``"smooth"`` is ``tanh(smooth_beta * x)``; ``"refined"`` is
    ``x`` where ``|x| < 1`` and ``sign(x)`` elsewhere.

    Args:
        b1: interpolation between the momentum and the gradient, in [0, 1]; traceable.
        b2: decay of the momentum, in [0, 1]; traceable.
        mu_dtype: dtype of ``m``; ``None`` keeps the params' dtype.
        mode: ``"hard"``, ``"smooth"`` or ``"refined"``; checked here, at construction (optax
            raises on an unknown mode only at the first ``update``).
        smooth_beta: the slope of ``"smooth"``'s tanh, ``> 0``; traceable.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.scale_by_lion()
        >>> t.update(jnp.array([0.5, -2.0]), t.init(jnp.zeros(2)))[0]
        Array([ 1., -1.], dtype=float32)

    References:
        Chen et al., *Symbolic Discovery of Optimization Algorithms*, NeurIPS 2023.
    """
    fn = "scale_by_lion"
    _check.decay_rate(fn, "b1", b1)
    _check.decay_rate(fn, "b2", b2)
    _check.dtype_arg(fn, "mu_dtype", mu_dtype)
    if mode not in _LION_MODES:
        raise ValueError(f"{fn}: mode must be one of {', '.join(map(repr, _LION_MODES))}, got mode={mode!r}.")
    _check.hyperparameter(fn, "smooth_beta", smooth_beta, low=0.0, low_open=True)
    mu_dtype = None if mu_dtype is None else jnp.dtype(mu_dtype)

    def sign(x, ct):
        if mode == "smooth":
            return jnp.tanh(as_dtype(smooth_beta, ct) * x)
        if mode == "refined":  # linear near 0, the sign beyond |x| = 1
            return jnp.where(jnp.abs(x) < 1, x, jnp.sign(x))
        return jnp.sign(x)

    def init(params):
        _check.float_params(fn, params)
        return ScaleByLionState(zero_count(), _moments.zeros(params, mu_dtype))

    def update(updates, state, params=None):
        del params
        count = _check.preamble(fn, state, ScaleByLionState, updates, "mu",
                                {"b1": b1, "b2": b2, "smooth_beta": smooth_beta})

        def leaf(g, m):
            ct = compute_dtype(g.dtype)
            g32 = g.astype(ct)
            # the sign of an interpolation with b1, the momentum kept with b2 (Chen et al., Algorithm 2)
            u = sign(_moments.ema(m, g32, b1), ct)
            return u.astype(g.dtype), _moments.ema(m, g32, b2).astype(m.dtype)

        updates, mu = map_leaves(leaf, updates, state.mu, n_out=2)
        return updates, ScaleByLionState(count, mu)

    return GradientTransformation(init, update)


def lion(learning_rate, b1=0.9, b2=0.99, mu_dtype: Optional[Any] = None, weight_decay=1e-3,
         mask=None, *, mode: str = "hard", smooth_beta=1.0) -> GradientTransformation:
    r"""Lion (Chen et al., 2023): ``W = W - lr * (sign(b1 m + (1 - b1) g) + wd * W)``.

    Every coordinate moves by ``lr`` (plus the decay), so Lion's learning rate is
    typically 3-10x smaller than AdamW's and its weight decay 3-10x larger. optax's
    names and defaults.

    Args:
        learning_rate: a number, traced array, schedule or tree of rates.
        b1, b2, mu_dtype, mode, smooth_beta: see ``scale_by_lion``.
        weight_decay: decoupled weight decay (multiplied by the learning rate), ``>= 0``;
            traceable.
        mask: which params decay, as in ``add_decayed_weights``.

    Returns:
        ``chain(scale_by_lion(...), add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate))``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.lion(0.01, weight_decay=0.0)
        >>> params = jnp.array([1.0, -3.0])
        >>> opt.update(jnp.array([0.2, -0.4]), opt.init(params), params)[0]
        Array([-0.01,  0.01], dtype=float32)
    """
    _check.learning_rate("lion", learning_rate)
    _check.weight_decay("lion", weight_decay)
    return chain(scale_by_lion(b1, b2, mu_dtype, mode=mode, smooth_beta=smooth_beta),
                 add_decayed_weights(weight_decay, mask),
                 scale_by_learning_rate(learning_rate))
