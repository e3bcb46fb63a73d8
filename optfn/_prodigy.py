"""Prodigy (Mishchenko & Defazio, 2023): Adam that estimates its own learning rate."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from . import _check
from ._adam import _check_adam_args
from ._base import GradientTransformationExtraArgs
from ._moments import bias_correction, ema, second_moment
from ._numerics import compute_dtype, safe_increment, zero_count


class ProdigyState(NamedTuple):
    """Adam's moments of the scaled gradients, the weighted gradient sum ``s``, the initial
    params ``x_0``, the distance estimate ``d`` and the weighted numerator ``r``."""

    exp_avg: Any
    exp_avg_sq: Any
    grad_sum: Any
    params0: Any
    estim_lr: jax.Array
    numerator_weighted: jax.Array
    count: jax.Array


def prodigy(learning_rate=1.0, betas=(0.9, 0.999), beta3=None, eps=1e-8, estim_lr0=1e-6, estim_lr_coef=1.0,
            weight_decay=0.0, safeguard_warmup: bool = False) -> GradientTransformationExtraArgs:
    r"""Prodigy (Mishchenko & Defazio, 2023, Algorithm 4): AdamW whose step ``d`` grows to the
    distance to the solution.

    With ``\gamma_t`` the learning-rate schedule (1 by default: ``d`` is the rate) and
    ``\rho_t = \gamma_t d_t \sqrt{1 - b_2^{t+1}} / (1 - b_1^{t+1})``:

    $$
    m_t = b_1 m_{t-1} + (1 - b_1) d_t g_t, \quad v_t = b_2 v_{t-1} + (1 - b_2) d_t^2 g_t^2,
    $$
    $$
    r_t = b_3 r_{t-1} + \frac{d_t}{d_0} \rho_t \langle g_t, x_0 - x_t \rangle, \quad
    s_t = b_3 s_{t-1} + \frac{\rho_t d_t}{d_0} g_t, \quad
    d_{t+1} = \max\Big(d_t, c\,\frac{r_t}{\lVert s_t \rVert_1}\Big),
    $$
    $$
    u_t = -\rho_t \Big(\frac{m_t}{\sqrt{v_t} + d_t \epsilon} + \lambda x_t\Big),
    $$

    ``b_3 = \sqrt{b_2}`` by default, ``d_0 = estim_lr0``, ``c = estim_lr_coef``,
    ``\lambda = weight_decay``. ``safeguard_warmup`` drops ``\gamma_t`` from ``s``'s
    weight. Every numeric argument may be traced. As ``optax.contrib.prodigy``.

    Example:
        >>> import jax, jax.numpy as jnp, optfn
        >>> opt = optfn.prodigy()
        >>> params = jnp.array([3.0])
        >>> s = opt.init(params)
        >>> for _ in range(100):
        ...     u, s = opt.update(jax.grad(lambda w: (w ** 2).sum())(params), s, params)
        ...     params = optfn.apply_updates(params, u)
        >>> bool(s.estim_lr > 1.0)   # from 1e-6 to the scale of the distance, 3
        True

    References:
        Mishchenko and Defazio, *Prodigy: An Expeditiously Adaptive Parameter-Free
        Learner*, ICML 2024 (arXiv:2306.06101).
    """
    fn = "prodigy"
    _check.learning_rate(fn, learning_rate)
    if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
        raise TypeError(f"{fn}: betas must be a pair (b1, b2), got betas={betas!r}.")
    b1, b2 = betas
    _check_adam_args(fn, b1, b2, eps, 0.0)
    if beta3 is not None:
        _check.decay_rate(fn, "beta3", beta3)
    _check.hyperparameter(fn, "estim_lr0", estim_lr0, low=0.0, low_open=True,
                          hint="It is the first (under-)estimate of the step, e.g. 1e-6.")
    _check.non_negative(fn, "estim_lr_coef", estim_lr_coef)
    _check.weight_decay(fn, weight_decay)
    _check.flag(fn, "safeguard_warmup", safeguard_warmup)

    def init(params):
        _check.float_params(fn, params)
        zeros = lambda: jax.tree.map(jnp.zeros_like, params)  # noqa: E731
        return ProdigyState(zeros(), zeros(), zeros(), params, jnp.asarray(estim_lr0, jnp.float32),
                            jnp.zeros([], jnp.float32), zero_count())

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _check.state_type(fn, state, ProdigyState)
        if params is None:
            raise ValueError(f"{fn}: update needs the params (the distance from the start is measured); call "
                             "update(grads, state, params).")
        _check.same_structure(fn, "updates", updates, "the state", state.exp_avg)
        f32 = jnp.float32
        beta1, beta2 = jnp.asarray(b1, f32), jnp.asarray(b2, f32)
        beta3_ = jnp.sqrt(beta2) if beta3 is None else jnp.asarray(beta3, f32)
        d0, d = jnp.asarray(estim_lr0, f32), state.estim_lr
        t = safe_increment(state.count)
        gamma = jnp.asarray(learning_rate(state.count) if callable(learning_rate) else learning_rate, f32)
        rho = d * gamma * jnp.sqrt(bias_correction(beta2, t, f32)) / bias_correction(beta1, t, f32)
        g = jax.tree.map(lambda x: x.astype(compute_dtype(x.dtype)), updates)
        inner = sum(jnp.sum(gi * (p0.astype(gi.dtype) - p.astype(gi.dtype)))
                    for gi, p0, p in zip(jax.tree.leaves(g), jax.tree.leaves(state.params0), jax.tree.leaves(params)))
        cast = lambda new, old: new.astype(old.dtype)  # noqa: E731
        # Adam's moments of the gradients scaled by the distance estimate d
        m = jax.tree.map(lambda gi, m: cast(ema(m, d * gi, beta1), m), g, state.exp_avg)
        v = jax.tree.map(lambda gi, v: cast(second_moment(v, d * gi, beta2), v), g, state.exp_avg_sq)
        weight = d * d / d0 if safeguard_warmup else rho * d / d0
        s = jax.tree.map(lambda gi, s: cast(beta3_ * s.astype(f32) + weight * gi, s), g, state.grad_sum)
        r = beta3_ * state.numerator_weighted + (d / d0) * rho * inner
        norm1 = sum(jnp.sum(jnp.abs(x).astype(f32)) for x in jax.tree.leaves(s))
        new_d = jnp.maximum(d, jnp.asarray(estim_lr_coef, f32) * r / norm1)
        wd = jnp.asarray(weight_decay, f32)
        out = jax.tree.map(lambda m, v, p: (-wd * rho * p.astype(f32) - rho * m.astype(f32) / (
            jnp.sqrt(v.astype(f32)) + d * jnp.asarray(eps, f32))).astype(p.dtype), m, v, params)
        return out, ProdigyState(m, v, s, state.params0, new_d, r, safe_increment(state.count))

    return GradientTransformationExtraArgs(init, update)
