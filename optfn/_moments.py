r"""The moment updates and bias corrections that Adam and its relatives share.

Each moment is an exponential moving average, and Adam's correction divides out the
weight that the zero start leaves missing:

$$ m_t = \beta m_{t-1} + (1 - \beta) x_t, \qquad \hat m_t = \frac{m_t}{1 - \beta^t}. $$

``x`` is the gradient (first moments), its squared modulus (second moments) or anything
else a method averages: a normalised gradient (ADOPT), a rotated one (SOAP), an update
(``ema``). Every function takes its inputs in the leaf's compute dtype (at least
float32; see ``_numerics``) and leaves the cast back to the storage dtype to the caller,
which knows which dtype each moment is stored in. The leaf functions of ``scale_by_adam``,
AdaBelief, RAdam, AMSGrad, AdaMax, ADOPT, AdEMAMix, Muon, SOAP, RMSProp and ``ema`` are
written with these, so a change to how a moment is computed is made once.

Example:
    >>> import jax.numpy as jnp
    >>> from optfn._moments import debiased, ema
    >>> m = ema(jnp.zeros(2), jnp.array([1.0, -2.0]), 0.9)  # (1 - 0.9) * g
    >>> print(debiased(m, 0.9, jnp.int32(1)))  # the first step's estimate is g itself
    [ 1. -2.]
"""

import jax
import jax.numpy as jnp

from ._numerics import abs_sq, as_dtype, full_like, safe_increment


def ema(moment, x, decay, rest=None) -> jax.Array:
    """``decay * moment + (1 - decay) * x`` in ``x``'s dtype.

    ``rest`` replaces ``1 - decay`` where the caller has it more exactly than the
    float32 subtraction (ADOPT takes ``1 - b2`` from the given Python float) or wants
    another weight (ADOPT's first step: ``decay = 0``, ``rest = 1``).
    """
    ct = x.dtype
    beta = as_dtype(decay, ct)
    weight = 1 - beta if rest is None else as_dtype(rest, ct)
    return beta * moment.astype(ct) + weight * x


def second_moment(moment, g, decay, rest=None) -> jax.Array:
    """The moving average of ``|g|**2`` (real and non-negative for complex ``g`` too)."""
    return ema(moment, abs_sq(g), decay, rest)


def bias_correction(decay, count, dtype) -> jax.Array:
    """``1 - decay**count`` in ``dtype`` (at least float32, so it never rounds to 0)."""
    return 1 - as_dtype(decay, dtype) ** count.astype(dtype)


def debiased(moment, decay, count) -> jax.Array:
    """``moment / (1 - decay**count)``: the estimate without the zero start's bias."""
    return moment / bias_correction(decay, count, moment.dtype)


def first_moment_estimate(new_m, g, b1, count, nesterov: bool) -> jax.Array:
    r"""The debiased first moment, or NAdam's look-ahead numerator (Dozat, 2016):

    $$ \frac{\beta_1 m_t}{1 - \beta_1^{t+1}} + \frac{(1 - \beta_1) g_t}{1 - \beta_1^t}. $$
    """
    if not nesterov:
        return debiased(new_m, b1, count)
    ct = new_m.dtype
    beta1 = as_dtype(b1, ct)
    return (beta1 / bias_correction(b1, safe_increment(count), ct)) * new_m + (
        (1 - beta1) / bias_correction(b1, count, ct)) * g


def zeros(params, dtype=None):
    """A tree of zero moments shaped as ``params``, in ``dtype`` (``None``: each leaf's own)."""
    return jax.tree.map(lambda p: full_like(p, 0, dtype), params)


def storage_dtype(dtype):
    """A moment's storage dtype argument (``mu_dtype``, ``nu_dtype``) as a dtype or ``None``."""
    return None if dtype is None else jnp.dtype(dtype)
