"""Adam's relatives: AdaBelief, RAdam, AMSGrad and AdaMax.

Each keeps Adam's bias-corrected first moment ``m`` and changes the second:
AdaBelief tracks the variance of the gradient around ``m``, RAdam rectifies the
early steps, AMSGrad keeps the running maximum, AdaMax the infinity norm. As in
``scale_by_adam``, moments and hyperparameters are computed in at least float32 and
the counter is int32 and saturates.
"""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from . import _check
from ._adam import ScaleByAdamState, _check_adam_args
from ._base import GradientTransformation
from ._chain import chain
from ._moments import debiased, ema, first_moment_estimate, second_moment, storage_dtype, zeros
from ._numerics import as_dtype, compute_dtype, map_leaves, zero_count
from ._scale import scale_by_learning_rate


def _moments_init(fn, mu_dtype=None, extra: int = 0):
    """``init`` of a state ``(count, m in mu_dtype, v, *extra more)``, the others in the params' dtypes."""
    mu_dtype = storage_dtype(mu_dtype)

    def init(params):
        _check.float_params(fn, params)
        return zero_count(), zeros(params, mu_dtype), *(zeros(params) for _ in range(1 + extra))

    return init


class ScaleByBeliefState(NamedTuple):
    """The update count, the first moment ``m`` and the belief ``s`` (variance around ``m``)."""

    count: jax.Array
    mu: Any
    nu: Any


def scale_by_belief(b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16, *, nesterov: bool = False) -> GradientTransformation:
    r"""AdaBelief's scaling (Zhuang et al., 2020, Algorithm 2):

    $$
    m_t = b_1 m_{t-1} + (1 - b_1) g_t, \quad
    s_t = b_2 s_{t-1} + (1 - b_2)(g_t - m_t)^2 + \epsilon_{root}, \quad
    u_t = \frac{m_t / (1 - b_1^t)}{\sqrt{s_t / (1 - b_2^t)} + \epsilon}
    $$

    A step is large where the gradient agrees with its prediction ``m`` (small ``s``)
    and small where it does not. optax's defaults (``eps = eps_root = 1e-16``; the paper
    uses ``eps = 1e-8``, ``eps_root = 0``).

    Args:
        b1, b2: decays of ``m`` and ``s``, in [0, 1); traceable.
        eps: added outside the root, ``>= 0``; traceable.
        eps_root: added to ``s`` every step, ``>= 0``; traceable.
        nesterov: NAdam's look-ahead numerator.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.scale_by_belief()
        >>> print(t.update(jnp.array([0.5, -2.0]), t.init(jnp.zeros(2)))[0])  # g / |g - m|: 1 / 0.9
        [ 1.1111 -1.1111]

    References:
        Zhuang et al., *AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed
        Gradients*, NeurIPS 2020.
    """
    fn = "scale_by_belief"
    _check.flag(fn, "nesterov", nesterov)
    _check_adam_args(fn, b1, b2, eps, eps_root)
    init_moments = _moments_init(fn)

    def init(params):
        return ScaleByBeliefState(*init_moments(params))

    def update(updates, state, params=None):
        del params
        count = _check.preamble(fn, state, ScaleByBeliefState, updates, "nu",
                                {"b1": b1, "b2": b2, "eps": eps, "eps_root": eps_root})

        def leaf(g, m, s):
            ct = compute_dtype(g.dtype)
            g32 = g.astype(ct)
            new_m = ema(m, g32, b1)
            new_s = second_moment(s, g32 - new_m, b2) + as_dtype(eps_root, ct)
            s_hat = debiased(new_s, b2, count)
            u = first_moment_estimate(new_m, g32, b1, count, nesterov) / (jnp.sqrt(s_hat) + as_dtype(eps, ct))
            return u.astype(g.dtype), new_m.astype(m.dtype), new_s.astype(s.dtype)

        updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, n_out=3)
        return updates, ScaleByBeliefState(count, mu, nu)

    return GradientTransformation(init, update)


def adabelief(learning_rate, b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16, *,
              nesterov: bool = False) -> GradientTransformation:
    r"""AdaBelief: ``W = W - lr * m_hat / (sqrt(s_hat) + eps)`` with ``s`` the EMA of ``(g - m)^2``;
    see ``scale_by_belief``. It is ``chain(scale_by_belief(...), scale_by_learning_rate(learning_rate))``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.adabelief(0.01)
        >>> print(opt.update(jnp.array([0.5]), opt.init(jnp.zeros(1)))[0])
        [-0.0111]
    """
    _check.learning_rate("adabelief", learning_rate)
    return chain(scale_by_belief(b1, b2, eps, eps_root, nesterov=nesterov), scale_by_learning_rate(learning_rate))


def _radam_rho(b2, count, ct):
    r"""``rho_t = 2 / (1 - b2) - 1 - 2 t b2^t / (1 - b2^t)`` without cancellation.

    Near the threshold ``rho_t`` is a few units, the difference of two terms near
    ``2 / (1 - b2)`` (2000 for ``b2 = 0.999``): in float32 it loses three digits (1% at
    the first rectified step). With ``s = 1 - b2``, ``l = -log(1 - s)``, ``y = t l`` and
    ``E = e^y - 1``, the two terms are ``2 / s`` and ``2 t / E``, and

    $$ \frac{2}{s} - \frac{2t}{E} = \frac{2\,[(E - y) + t (l - s)]}{s E}, $$

    whose bracket is a sum of positive terms, each summed from its Taylor series while
    ``y <= 1`` and ``s <= 1/2``. Beyond that the direct form loses at most a factor 2.4.
    """
    s = 1 - as_dtype(b2, ct)
    t = count.astype(ct)
    lam = -jnp.log1p(-s)
    k = jnp.arange(2, 24, dtype=ct)
    s_small = jnp.minimum(s, 0.5)
    lam_minus_s = jnp.where(s <= 0.5, jnp.sum(s_small ** k / k), lam - s)  # s^2/2 + s^3/3 + ...
    y = t * lam
    y_small = jnp.minimum(y, 1.0)
    factorials = jnp.cumprod(jnp.arange(1, 24, dtype=ct))[1:]  # 2!, 3!, ...
    expm1_minus_y = jnp.sum(y_small ** k / factorials)  # y^2/2 + y^3/6 + ...
    e = jnp.expm1(y)
    series = 2 * (expm1_minus_y + t * lam_minus_s) / (s * jnp.where(y <= 1, e, 1)) - 1
    direct = 2 / s - 1 - 2 * t / e
    return jnp.where(y <= 1, series, direct)


def scale_by_radam(b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, threshold=5.0, *,
                   nesterov: bool = False) -> GradientTransformation:
    r"""Rectified Adam's scaling (Liu et al., 2020, Algorithm 2):

    $$
    \rho_\infty = \frac{2}{1 - b_2} - 1, \quad
    \rho_t = \rho_\infty - \frac{2 t b_2^t}{1 - b_2^t}, \quad
    r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}{(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}}
    $$

    ``u_t = r_t m_hat / (sqrt(v_hat + eps_root) + eps)`` once ``rho_t >= threshold``; before
    that the adaptive denominator's variance is too large and ``u_t = m_hat`` (momentum SGD).
    ``rho_t`` is computed without cancellation (optax's float32 ``rho_t`` is 1% off at
    the first rectified step with ``b2 = 0.999``, and so is its step).

    Args:
        b1, b2, eps, eps_root: as in ``scale_by_adam``; traceable.
        threshold: the ``rho_t`` from which the rectified step is used (the paper: 4;
            optax: 5); traceable.
        nesterov: NAdam's look-ahead numerator.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.scale_by_radam()  # the first steps are momentum steps
        >>> t.update(jnp.array([0.5, -2.0]), t.init(jnp.zeros(2)))[0]
        Array([ 0.5, -2. ], dtype=float32)

    References:
        Liu et al., *On the Variance of the Adaptive Learning Rate and Beyond*, ICLR 2020.
    """
    fn = "scale_by_radam"
    _check.flag(fn, "nesterov", nesterov)
    _check_adam_args(fn, b1, b2, eps, eps_root)
    _check.hyperparameter(fn, "threshold", threshold, low=4.0,
                          hint="The rectification needs rho_t > 4 (Liu et al. use 4; optax's default is 5).")
    init_moments = _moments_init(fn)

    def init(params):
        return ScaleByAdamState(*init_moments(params))

    def update(updates, state, params=None):
        del params
        count = _check.preamble(fn, state, ScaleByAdamState, updates, "nu",
                                {"b1": b1, "b2": b2, "eps": eps, "eps_root": eps_root, "threshold": threshold})

        def leaf(g, m, v):
            ct = compute_dtype(g.dtype)
            g32, beta2 = g.astype(ct), as_dtype(b2, ct)
            new_m, new_v = ema(m, g32, b1), second_moment(v, g32, b2)
            rho_inf = 2 / (1 - beta2) - 1
            rho = _radam_rho(b2, count, ct)
            rect = (rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)
            rectified = rho >= as_dtype(threshold, ct)
            r = jnp.sqrt(jnp.where(rectified, jnp.maximum(rect, 0), 1))  # finite in the unused branch too
            m_hat = first_moment_estimate(new_m, g32, b1, count, nesterov)
            v_hat = debiased(new_v, b2, count)
            adaptive = r * m_hat / (jnp.sqrt(v_hat + as_dtype(eps_root, ct)) + as_dtype(eps, ct))
            u = jnp.where(rectified, adaptive, m_hat)
            return u.astype(g.dtype), new_m.astype(m.dtype), new_v.astype(v.dtype)

        updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, n_out=3)
        return updates, ScaleByAdamState(count, mu, nu)

    return GradientTransformation(init, update)


def radam(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, threshold=5.0, *,
          nesterov: bool = False) -> GradientTransformation:
    r"""RAdam: ``W = W - lr * r_t * m_hat / (sqrt(v_hat) + eps)`` once ``rho_t`` passes ``threshold``,
    ``W = W - lr * m_hat`` before; see ``scale_by_radam``. It is
    ``chain(scale_by_radam(...), scale_by_learning_rate(learning_rate))``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.radam(0.1)
        >>> opt.update(jnp.array([0.5]), opt.init(jnp.zeros(1)))[0]
        Array([-0.05], dtype=float32)
    """
    _check.learning_rate("radam", learning_rate)
    return chain(scale_by_radam(b1, b2, eps, eps_root, threshold, nesterov=nesterov),
                 scale_by_learning_rate(learning_rate))


class ScaleByAmsgradState(NamedTuple):
    """The update count, the moments ``m`` and ``v``, and the running maximum of ``v_hat``."""

    count: jax.Array
    mu: Any
    nu: Any
    nu_max: Any


def scale_by_amsgrad(b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype: Optional[Any] = None,
                     bias_correction_mu: bool = True, bias_correction_nu: bool = True) -> GradientTransformation:
    r"""AMSGrad's scaling (Reddi et al., 2018): Adam with a denominator that never shrinks,

    $$ \hat v^{max}_t = \max(\hat v^{max}_{t-1}, v_t / (1 - b_2^t)), \qquad
       u_t = \frac{m_t / (1 - b_1^t)}{\sqrt{\hat v^{max}_t + \epsilon_{root}} + \epsilon}. $$

    ``bias_correction_mu=False, bias_correction_nu=False`` is the paper's original form.

    Args:
        b1, b2, eps, eps_root, mu_dtype: as in ``scale_by_adam``.
        bias_correction_mu: debias ``m``.
        bias_correction_nu: debias ``v`` before the maximum.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.scale_by_amsgrad()
        >>> t.update(jnp.array([0.5, -2.0]), t.init(jnp.zeros(2)))[0]
        Array([ 1., -1.], dtype=float32)

    References:
        Reddi et al., *On the Convergence of Adam and Beyond*, ICLR 2018.
    """
    fn = "scale_by_amsgrad"
    _check_adam_args(fn, b1, b2, eps, eps_root)
    _check.dtype_arg(fn, "mu_dtype", mu_dtype)
    _check.flag(fn, "bias_correction_mu", bias_correction_mu)
    _check.flag(fn, "bias_correction_nu", bias_correction_nu)
    init_moments = _moments_init(fn, mu_dtype, extra=1)

    def init(params):
        return ScaleByAmsgradState(*init_moments(params))

    def update(updates, state, params=None):
        del params
        count = _check.preamble(fn, state, ScaleByAmsgradState, updates, "nu",
                                {"b1": b1, "b2": b2, "eps": eps, "eps_root": eps_root})

        def leaf(g, m, v, v_max):
            ct = compute_dtype(g.dtype)
            g32 = g.astype(ct)
            new_m, new_v = ema(m, g32, b1), second_moment(v, g32, b2)
            m_hat = debiased(new_m, b1, count) if bias_correction_mu else new_m
            v_hat = debiased(new_v, b2, count) if bias_correction_nu else new_v
            new_max = jnp.maximum(v_max.astype(ct), v_hat)
            u = m_hat / (jnp.sqrt(new_max + as_dtype(eps_root, ct)) + as_dtype(eps, ct))
            return u.astype(g.dtype), new_m.astype(m.dtype), new_v.astype(v.dtype), new_max.astype(v_max.dtype)

        updates, mu, nu, nu_max = map_leaves(leaf, updates, state.mu, state.nu, state.nu_max, n_out=4)
        return updates, ScaleByAmsgradState(count, mu, nu, nu_max)

    return GradientTransformation(init, update)


def amsgrad(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype: Optional[Any] = None,
            bias_correction_mu: bool = True, bias_correction_nu: bool = True) -> GradientTransformation:
    r"""AMSGrad: ``W = W - lr * m_hat / (sqrt(max_{s<=t} v_hat_s) + eps)``; see ``scale_by_amsgrad``.
    It is ``chain(scale_by_amsgrad(...), scale_by_learning_rate(learning_rate))``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.amsgrad(0.1)
        >>> opt.update(jnp.array([0.5]), opt.init(jnp.zeros(1)))[0]
        Array([-0.1], dtype=float32)
    """
    _check.learning_rate("amsgrad", learning_rate)
    return chain(scale_by_amsgrad(b1, b2, eps, eps_root, mu_dtype, bias_correction_mu, bias_correction_nu),
                 scale_by_learning_rate(learning_rate))


def scale_by_adamax(b1=0.9, b2=0.999, eps=1e-8) -> GradientTransformation:
    r"""AdaMax's scaling (Kingma & Ba, section 7.1): Adam with the infinity norm,

    $$ v_t = \max(b_2 v_{t-1}, |g_t| + \epsilon), \qquad u_t = \frac{m_t / (1 - b_1^t)}{v_t}. $$

    Args:
        b1, b2: decays of ``m`` and of the running maximum, in [0, 1); traceable.
        eps: added to ``|g|``, ``> 0`` keeps the division finite; traceable.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.scale_by_adamax()
        >>> t.update(jnp.array([0.5, -2.0]), t.init(jnp.zeros(2)))[0]
        Array([ 1., -1.], dtype=float32)

    References:
        Kingma and Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015, section 7.1.
    """
    fn = "scale_by_adamax"
    _check_adam_args(fn, b1, b2, eps, 0.0)
    init_moments = _moments_init(fn)

    def init(params):
        return ScaleByAdamState(*init_moments(params))

    def update(updates, state, params=None):
        del params
        count = _check.preamble(fn, state, ScaleByAdamState, updates, "nu",
                                {"b1": b1, "b2": b2, "eps": eps})

        def leaf(g, m, v):
            ct = compute_dtype(g.dtype)
            g32 = g.astype(ct)
            new_m = ema(m, g32, b1)
            new_v = jnp.maximum(as_dtype(b2, ct) * v.astype(ct), jnp.abs(g32) + as_dtype(eps, ct))
            u = debiased(new_m, b1, count) / new_v
            return u.astype(g.dtype), new_m.astype(m.dtype), new_v.astype(v.dtype)

        updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, n_out=3)
        return updates, ScaleByAdamState(count, mu, nu)

    return GradientTransformation(init, update)


def adamax(learning_rate, b1=0.9, b2=0.999, eps=1e-8) -> GradientTransformation:
    r"""AdaMax: ``W = W - lr * m_hat / u`` with ``u = max(b2 * u, |g| + eps)``; see ``scale_by_adamax``.
    It is ``chain(scale_by_adamax(...), scale_by_learning_rate(learning_rate))``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.adamax(0.1)
        >>> opt.update(jnp.array([0.5]), opt.init(jnp.zeros(1)))[0]
        Array([-0.1], dtype=float32)
    """
    _check.learning_rate("adamax", learning_rate)
    return chain(scale_by_adamax(b1, b2, eps), scale_by_learning_rate(learning_rate))

