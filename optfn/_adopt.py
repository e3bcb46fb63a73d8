"""ADOPT (Taniguchi et al., 2024): Adam's moments in the order that converges for any ``b2``.

Adam normalises the current gradient by a second moment that already contains it;
ADOPT normalises by the *previous* second moment, then averages the normalised
gradients. The first step only records ``v_0 = g_0^2``.
"""

from typing import Any, Callable, Optional

import jax.numpy as jnp

from . import _check
from ._adam import ScaleByAdamState, _check_adam_args
from ._adam_family import _moments_init
from ._base import GradientTransformation
from ._chain import chain
from ._moments import ema, second_moment
from ._numerics import as_dtype, compute_dtype, map_leaves
from ._scale import scale_by_learning_rate


def _quarter_power(count):
    """ADOPT's default clipping bound at step ``count``: ``count ** 0.25``."""
    return jnp.asarray(count, jnp.float32) ** 0.25


def scale_by_adopt(b1=0.9, b2=0.9999, eps=1e-6, mu_dtype: Optional[Any] = None, *, nesterov: bool = False,
                   use_clipping: bool = True, clip_value_fn: Callable = _quarter_power) -> GradientTransformation:
    r"""ADOPT's scaling (Taniguchi et al., 2024, Algorithm 2, with clipping):

    $$
    v_0 = g_0^2,\ u_0 = 0; \qquad
    \tilde g_t = \mathrm{clip}\Big(\frac{g_t}{\max(\sqrt{v_{t-1}}, \epsilon)}, \pm c_t\Big), \quad
    m_t = b_1 m_{t-1} + (1 - b_1)\,\tilde g_t, \quad
    v_t = b_2 v_{t-1} + (1 - b_2)\, g_t^2, \quad u_t = m_t,
    $$

    with ``c_t = clip_value_fn(t) = t**0.25`` (``t`` the count before this update; no
    clipping with ``use_clipping=False``). ``nesterov=True`` returns ``b_1 m_t + (1 -
    b_1) \tilde g_t`` instead. Every numeric argument may be traced; optax's
    ``contrib.scale_by_adopt`` computes the same.

    Args:
        b1: decay of the average of normalised gradients.
        b2: decay of the second moment.
        eps: floor of the normaliser ``sqrt(v)``.
        mu_dtype: storage dtype of ``m`` (``None``: the params').
        nesterov: Nesterov's look-ahead on ``m``.
        use_clipping: clip the normalised gradient to ``clip_value_fn(t)``.
        clip_value_fn: the step count -> the clipping bound.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.scale_by_adopt()
        >>> s = t.init(jnp.zeros(2))
        >>> u, s = t.update(jnp.array([0.5, -2.0]), s)  # the first step records v only
        >>> u
        Array([0., 0.], dtype=float32)
        >>> [round(float(v), 4) for v in t.update(jnp.array([0.5, -2.0]), s)[0]]  # g / sqrt(v) = +-1, averaged
        [0.1, -0.1]

    References:
        Taniguchi et al., *ADOPT: Modified Adam Can Converge with Any beta_2 with the
        Optimal Rate*, NeurIPS 2024.
    """
    fn = "scale_by_adopt"
    _check_adam_args(fn, b1, b2, eps, 0.0)
    _check.dtype_arg(fn, "mu_dtype", mu_dtype)
    _check.flag(fn, "nesterov", nesterov)
    _check.flag(fn, "use_clipping", use_clipping)
    if not callable(clip_value_fn):
        raise TypeError(f"{fn}: clip_value_fn must be a function of the step count, got {clip_value_fn!r}.")
    init_moments = _moments_init(fn, mu_dtype)

    def init(params):
        return ScaleByAdamState(*init_moments(params))

    def update(updates, state, params=None):
        del params
        count = _check.preamble(fn, state, ScaleByAdamState, updates, "nu", {"b1": b1, "b2": b2, "eps": eps})
        first = state.count == 0

        def leaf(g, m, v):
            ct = compute_dtype(g.dtype)
            g32, v_old = g.astype(ct), v.astype(ct)
            beta1 = jnp.where(first, 1.0, as_dtype(b1, ct)).astype(ct)  # step 0: m stays 0
            beta2 = jnp.where(first, 0.0, as_dtype(b2, ct)).astype(ct)  # step 0: v = g^2
            # 1 - b2 from the given value: 0.9999 in float32 is 1 - 1.00002e-4, 2e-5 off
            rest2 = jnp.where(first, 1.0, as_dtype(1 - b2, ct)).astype(ct)
            normed = g32 / jnp.maximum(jnp.sqrt(v_old), as_dtype(eps, ct))
            if use_clipping:
                bound = jnp.asarray(clip_value_fn(state.count)).astype(ct)
                normed = jnp.clip(normed, -bound, bound)
            new_m = ema(m, normed, beta1)
            new_v = second_moment(v_old, g32, beta2, rest2)
            u = ema(new_m, normed, beta1) if nesterov else new_m  # Nesterov: one more average ahead
            return u.astype(g.dtype), new_m.astype(m.dtype), new_v.astype(v.dtype)

        updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, n_out=3)
        return updates, ScaleByAdamState(count, mu, nu)

    return GradientTransformation(init, update)


def adopt(learning_rate, b1=0.9, b2=0.9999, eps=1e-6, mu_dtype: Optional[Any] = None, *, nesterov: bool = False,
          use_clipping: bool = True, clip_value_fn: Callable = _quarter_power) -> GradientTransformation:
    r"""ADOPT: ``W = W - lr * m``, ``m`` the average of gradients normalised by the previous
    second moment; see ``scale_by_adopt``. It is ``chain(scale_by_adopt(...),
    scale_by_learning_rate(learning_rate))``, as ``optax.contrib.adopt``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.adopt(0.1)
        >>> s = opt.init(jnp.zeros(1))
        >>> _, s = opt.update(jnp.array([0.5]), s)
        >>> opt.update(jnp.array([0.5]), s)[0]
        Array([-0.01], dtype=float32)
    """
    _check.learning_rate("adopt", learning_rate)
    return chain(scale_by_adopt(b1, b2, eps, mu_dtype, nesterov=nesterov, use_clipping=use_clipping,
                                clip_value_fn=clip_value_fn),
                 scale_by_learning_rate(learning_rate))
