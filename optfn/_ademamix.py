"""AdEMAMix (Pagliardini et al., 2024): Adam with a second, much slower momentum added.

A fast average of the gradients reacts to the last steps; a slow one (``b3 = 0.9999``,
a memory of about 10,000 steps) keeps older gradients useful. Both share Adam's
second moment.
"""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from . import _check
from ._adam import _check_adam_args
from ._base import GradientTransformation
from ._chain import chain
from ._moments import debiased, ema, second_moment, storage_dtype, zeros
from ._numerics import as_dtype, compute_dtype, map_leaves, safe_increment, zero_count
from ._scale import scale_by_learning_rate
from ._weight_decay import add_decayed_weights


class ScaleByAdemamixState(NamedTuple):
    """The update counts (``count_m2`` drives the schedules of ``b3`` and ``alpha``), the
    fast and slow first moments ``m1``, ``m2`` and the second moment ``nu``."""

    count: jax.Array
    count_m2: jax.Array
    m1: Any
    m2: Any
    nu: Any


def _value(x, count):
    return x(count) if callable(x) else x


def scale_by_ademamix(b1=0.9, b2=0.999, b3=0.9999, alpha=6.0, eps=1e-8, eps_root=0.0,
                      mu_dtype: Optional[Any] = None) -> GradientTransformation:
    r"""AdEMAMix's scaling (Pagliardini et al., 2024, Algorithm 1):

    $$
    m^{(1)}_t = b_1 m^{(1)}_{t-1} + (1 - b_1) g_t, \quad
    m^{(2)}_t = b_3 m^{(2)}_{t-1} + (1 - b_3) g_t, \quad
    v_t = b_2 v_{t-1} + (1 - b_2) g_t^2,
    $$
    $$
    u_t = \frac{m^{(1)}_t / (1 - b_1^t) + \alpha\, m^{(2)}_t}{\sqrt{v_t / (1 - b_2^t) + \epsilon_{root}} + \epsilon}.
    $$

    The slow moment is not bias-corrected. ``b3`` and ``alpha`` may be schedules of the
    step (the paper warms both up); every numeric argument may be traced. optax's
    ``contrib.scale_by_ademamix`` computes the same.

    Args:
        b1, b2, eps, eps_root: as in ``scale_by_adam``.
        b3: decay of the slow moment, or a schedule of it.
        alpha: weight of the slow moment, or a schedule of it.
        mu_dtype: storage dtype of the moments (``None``: the params').

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.scale_by_ademamix(alpha=5.0)
        >>> print(t.update(jnp.array([0.5, -2.0]), t.init(jnp.zeros(2)))[0].round(4))  # (1 + 5e-4) sign(g)
        [ 1.0005 -1.0005]

    References:
        Pagliardini, Ablin and Grangier, *The AdEMAMix Optimizer: Better, Faster,
        Older*, 2024 (arXiv:2409.03137).
    """
    fn = "scale_by_ademamix"
    _check_adam_args(fn, b1, b2, eps, eps_root)
    if not callable(b3):
        _check.decay_rate(fn, "b3", b3)
    if not callable(alpha):
        _check.non_negative(fn, "alpha", alpha)
    _check.dtype_arg(fn, "mu_dtype", mu_dtype)
    mu_dtype = storage_dtype(mu_dtype)

    def init(params):
        _check.float_params(fn, params)
        return ScaleByAdemamixState(zero_count(), zero_count(), *(zeros(params, mu_dtype) for _ in range(3)))

    def update(updates, state, params=None):
        del params
        _check.state_type(fn, state, ScaleByAdemamixState)  # before reading count_m2
        beta3, weight = _value(b3, state.count_m2), _value(alpha, state.count_m2)
        count = _check.preamble(fn, state, ScaleByAdemamixState, updates, "nu",
                                {"b1": b1, "b2": b2, "b3": beta3, "alpha": weight, "eps": eps, "eps_root": eps_root})

        def leaf(g, m1, m2, v):
            ct = compute_dtype(g.dtype)
            g32 = g.astype(ct)
            new_m1, new_m2, new_v = ema(m1, g32, b1), ema(m2, g32, beta3), second_moment(v, g32, b2)
            m_hat, v_hat = debiased(new_m1, b1, count), debiased(new_v, b2, count)
            u = (m_hat + as_dtype(weight, ct) * new_m2) / (jnp.sqrt(v_hat + as_dtype(eps_root, ct))
                                                           + as_dtype(eps, ct))
            return u.astype(g.dtype), new_m1.astype(m1.dtype), new_m2.astype(m2.dtype), new_v.astype(v.dtype)

        updates, m1, m2, nu = map_leaves(leaf, updates, state.m1, state.m2, state.nu, n_out=4)
        return updates, ScaleByAdemamixState(count, safe_increment(state.count_m2), m1, m2, nu)

    return GradientTransformation(init, update)


def ademamix(learning_rate, b1=0.9, b2=0.999, b3=0.9999, alpha=5.0, eps=1e-8, eps_root=0.0,
             mu_dtype: Optional[Any] = None, weight_decay=0.0, mask=None) -> GradientTransformation:
    r"""AdEMAMix: ``W = W - lr * (u_t + wd W)``, ``u_t`` from ``scale_by_ademamix``. It is
    ``chain(scale_by_ademamix(...), add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate))``, as ``optax.contrib.ademamix`` (whose
    default ``alpha`` here is 5, the scaling's 6).

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.ademamix(0.1)
        >>> u, _ = opt.update(jnp.array([0.5]), opt.init(jnp.zeros(1)))
        >>> print(f"{float(u.sum()):.5f}")
        -0.10005
    """
    _check.learning_rate("ademamix", learning_rate)
    _check.weight_decay("ademamix", weight_decay)
    return chain(scale_by_ademamix(b1, b2, b3, alpha, eps, eps_root, mu_dtype),
                 add_decayed_weights(weight_decay, mask), scale_by_learning_rate(learning_rate))
