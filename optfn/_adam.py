"""Adam, AdamW and NAdam: momentum plus RMSProp with bias correction."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from . import _check
from ._base import GradientTransformation
from ._chain import chain
from ._moments import bias_correction, ema, second_moment, storage_dtype, zeros
from ._numerics import as_dtype, compute_dtype, map_leaves, safe_increment, zero_count
from ._scale import scale_by_learning_rate
from ._weight_decay import _is_zero, add_decayed_weights


class ScaleByAdamState(NamedTuple):
    """The update count ``t`` (int32, saturating) and the moments ``m`` and ``v``."""

    count: jax.Array
    mu: Any
    nu: Any


def _check_adam_args(fn, b1, b2, eps, eps_root):
    _check.decay_rate(fn, "b1", b1, high_open=True)
    _check.decay_rate(fn, "b2", b2, high_open=True)
    _check.non_negative(fn, "eps", eps)
    _check.non_negative(fn, "eps_root", eps_root)


def scale_by_adam(
    b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype: Optional[Any] = None, *, nesterov: bool = False,
    nu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    r"""Adam's scaling (Kingma & Ba, Algorithm 1), with bias correction.

    $$
    m_t = b_1 m_{t-1} + (1 - b_1) g_t, \quad v_t = b_2 v_{t-1} + (1 - b_2) g_t^2,
    \quad u_t = \frac{m_t / (1 - b_1^t)}{\sqrt{v_t / (1 - b_2^t) + \epsilon_{root}} + \epsilon}
    $$

    With ``nesterov=True`` (NAdam, Dozat 2016) the numerator is
    ``b1 * m_t / (1 - b1**(t+1)) + (1 - b1) * g_t / (1 - b1**t)``.
    Bias corrections are computed in at least float32 and the counter ``t`` is int32
    and saturates instead of overflowing.

    Args:
        b1: decay of the first moment, in [0, 1); traceable.
        b2: decay of the second moment, in [0, 1); traceable.
        eps: added to the denominator outside the root, ``>= 0``; traceable. With ``eps``
            and ``eps_root`` both a static 0, a coordinate whose gradients were all exactly
            0 takes no step (optax's gives 0/0 = NaN there).
        eps_root: added inside the root, ``>= 0`` (helps when differentiating through
            the optimizer); traceable.
        mu_dtype: dtype of ``m``; ``None`` keeps the params' dtype.
        nesterov: use NAdam's look-ahead numerator.
        nu_dtype: dtype of ``v``; ``None`` keeps the params' dtype. With bf16 params,
            ``mu_dtype=jnp.bfloat16`` alone leaves ``v`` in bf16 too, where its 8-bit
            mantissa drops every ``(1 - b2) g^2`` below 1/256 of ``v``: pass
            ``nu_dtype=jnp.float32`` to keep the second moment exact.

    Returns:
        A ``GradientTransformation`` with state ``ScaleByAdamState``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.scale_by_adam()
        >>> t.update(jnp.array([0.5, -2.0]), t.init(jnp.zeros(2)))[0]
        Array([ 1., -1.], dtype=float32)

    References:
        Kingma and Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015;
        Dozat, *Incorporating Nesterov Momentum into Adam*, 2016.
    """
    fn = "scale_by_adam"
    _check.flag(fn, "nesterov", nesterov)
    _check.dtype_arg(fn, "mu_dtype", mu_dtype)
    _check.dtype_arg(fn, "nu_dtype", nu_dtype)
    _check_adam_args(fn, b1, b2, eps, eps_root)
    mu_dtype, nu_dtype = storage_dtype(mu_dtype), storage_dtype(nu_dtype)
    # optax's Adam with eps=0 returns NaN where every gradient so far was exactly 0 (0/0);
    # with both epsilons statically 0, such a coordinate takes no step instead. A traced
    # eps is not inspected: a sweep whose eps reaches exactly 0 keeps the 0/0.
    exact_zero = _is_zero(eps) and _is_zero(eps_root)

    def init(params):
        _check.float_params(fn, params)
        return ScaleByAdamState(zero_count(), zeros(params, mu_dtype), zeros(params, nu_dtype))

    def update(updates, state, params=None):
        del params
        count = _check.preamble(fn, state, ScaleByAdamState, updates, "nu",
                                {"b1": b1, "b2": b2, "eps": eps, "eps_root": eps_root})
        scalars = {}

        def constants(ct):
            # Kingma & Ba, section 2: both bias corrections fold into scalars, so each
            # element costs one sqrt and one division. They are built once per compute
            # dtype, not once per leaf: a model with a thousand leaves then traces (and
            # XLA compiles) a thousand element-wise kernels, not a thousand copies of them.
            if ct not in scalars:
                beta1, beta2 = as_dtype(b1, ct), as_dtype(b2, ct)
                bc2 = bias_correction(b2, count, ct)
                root_bc2 = jnp.sqrt(bc2)
                if nesterov:
                    m_coef = root_bc2 * beta1 / bias_correction(b1, safe_increment(count), ct)
                    g_coef = root_bc2 * (1 - beta1) / bias_correction(b1, count, ct)
                else:
                    m_coef, g_coef = root_bc2 / bias_correction(b1, count, ct), None
                root_shift = None if _is_zero(eps_root) else as_dtype(eps_root, ct) * bc2
                scalars[ct] = (beta1, beta2, m_coef, g_coef, root_shift, as_dtype(eps, ct) * root_bc2)
            return scalars[ct]

        def leaf(g, m, v):
            # u = (m / bc1) / (sqrt(v / bc2 + eps_root) + eps)
            #   = (sqrt(bc2) / bc1) m / (sqrt(v + eps_root bc2) + eps sqrt(bc2))
            ct = compute_dtype(g.dtype)
            beta1, beta2, m_coef, g_coef, root_shift, eps_scaled = constants(ct)
            g32 = g.astype(ct)
            new_m, new_v = ema(m, g32, beta1), second_moment(v, g32, beta2)
            numerator = m_coef * new_m if g_coef is None else m_coef * new_m + g_coef * g32
            denominator = jnp.sqrt(new_v if root_shift is None else new_v + root_shift) + eps_scaled
            if exact_zero:  # eps = eps_root = 0: a coordinate never given a gradient would be 0/0
                u = jnp.where(denominator > 0, numerator / jnp.where(denominator > 0, denominator, 1), 0)
            else:
                u = numerator / denominator
            return u.astype(g.dtype), new_m.astype(m.dtype), new_v.astype(v.dtype)

        updates, mu, nu = map_leaves(leaf, updates, state.mu, state.nu, n_out=3)
        return updates, ScaleByAdamState(count, mu, nu)

    return GradientTransformation(init, update)


def adam(
    learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype: Optional[Any] = None, *, nesterov: bool = False,
    nu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    r"""Adam: ``W = W - lr * m_hat / (sqrt(v_hat) + eps)``; see ``scale_by_adam``.

    The lecture notes' defaults ``b1=0.9, b2=0.999, eps=1e-8`` are the defaults here;
    only the learning rate needs tuning. The first step is ``-lr * sign(g)`` wherever
    ``|g| >> eps``.

    Args:
        learning_rate: a number, traced array, schedule or tree of rates.
        b1, b2, eps, eps_root, mu_dtype, nesterov, nu_dtype: see ``scale_by_adam``.

    Returns:
        ``chain(scale_by_adam(...), scale_by_learning_rate(learning_rate))``.

    Example:
        >>> import jax, jax.numpy as jnp, optfn
        >>> opt = optfn.adam(0.1)
        >>> params = jnp.array([1.0, -3.0])
        >>> updates, state = opt.update(jax.grad(lambda w: (w ** 2).sum())(params), opt.init(params))
        >>> print(updates)
        [-0.1  0.1]
    """
    _check.learning_rate("adam", learning_rate)
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, nu_dtype=nu_dtype),
        scale_by_learning_rate(learning_rate),
    )


def adamw(
    learning_rate,
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    eps_root=0.0,
    mu_dtype: Optional[Any] = None,
    weight_decay=1e-4,
    mask=None,
    *,
    nesterov: bool = False,
    nu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    r"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter).

    ``W = W - lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * W)``: the decay is
    added after Adam's scaling and multiplied by the learning rate, as in optax and
    PyTorch, so it is not divided by ``sqrt(v_hat)`` as L2 regularisation would be.

    Args:
        learning_rate: a number, traced array, schedule or tree of rates.
        b1, b2, eps, eps_root, mu_dtype, nesterov, nu_dtype: see ``scale_by_adam``.
        weight_decay: the decay coefficient, ``>= 0``; traceable.
        mask: which params decay: a pytree of bools (a prefix of the params) or a
            function ``params -> pytree of bools``; ``None`` decays all.

    Returns:
        ``chain(scale_by_adam(...), add_decayed_weights(weight_decay, mask), scale_by_learning_rate(lr))``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.adamw(0.1, weight_decay=0.5)
        >>> w = jnp.array([2.0])
        >>> opt.update(jnp.array([1.0]), opt.init(w), w)[0]
        Array([-0.2], dtype=float32)

    References:
        Loshchilov and Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019.
    """
    _check.learning_rate("adamw", learning_rate)
    _check.weight_decay("adamw", weight_decay)
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, nu_dtype=nu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


def nadam(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype: Optional[Any] = None, *,
          nesterov: bool = True, nu_dtype: Optional[Any] = None) -> GradientTransformation:
    r"""NAdam: Adam with Nesterov momentum, ``adam(..., nesterov=True)`` (optax's signature:
    ``nesterov=False`` is plain Adam).

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.nadam(0.1)  # first step: -0.1 * (0.9 / 0.19 * 0.1 + 1) = -0.147
        >>> print(opt.update(jnp.array([4.0]), opt.init(jnp.zeros(1)))[0])
        [-0.1474]

    References:
        Dozat, *Incorporating Nesterov Momentum into Adam*, ICLR workshop 2016.
    """
    return adam(learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, nu_dtype=nu_dtype)


def nadamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype: Optional[Any] = None,
           weight_decay=1e-4, mask=None, *, nesterov: bool = True,
           nu_dtype: Optional[Any] = None) -> GradientTransformation:
    r"""NAdamW: NAdam with decoupled weight decay, ``adamw(..., nesterov=True)`` (optax's
    signature: ``nesterov=False`` is plain AdamW).

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.nadamw(0.1, weight_decay=0.5)  # -0.1 * (1.474 + 0.5 * 2)
        >>> w = jnp.array([2.0])
        >>> print(opt.update(jnp.array([4.0]), opt.init(w), w)[0])
        [-0.2474]

    References:
        Dozat, 2016; Loshchilov and Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019.
    """
    return adamw(learning_rate, b1, b2, eps, eps_root, mu_dtype, weight_decay, mask, nesterov=nesterov,
                 nu_dtype=nu_dtype)
