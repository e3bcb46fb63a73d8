"""Gradient clipping, element-wise and by the global norm."""

import jax
import jax.numpy as jnp

from . import _check
from ._base import EmptyState, GradientTransformation
from ._numerics import abs_sq, as_dtype, compute_dtype


def global_norm(updates) -> jax.Array:
    """The L2 norm of all leaves together, ``sqrt(sum_i sum(|x_i|**2))``, in float32 or wider.

    Leaves may be arrays, Python numbers or lists; integer leaves are summed in float32
    (their squares would overflow), complex ones by their modulus.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> optfn.global_norm({"a": jnp.array([3.0]), "b": jnp.array([4.0])})
        Array(5., dtype=float32)
    """
    leaves = [jnp.asarray(x) for x in jax.tree.leaves(updates)]  # Python numbers and lists too
    if not leaves:
        return jnp.zeros([], jnp.float32)
    # integers and bools in float32 (an int32 square overflows); complex leaves by |x|**2
    wide = [x.astype(jnp.float32) if not jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(compute_dtype(x.dtype))
            for x in leaves]
    real = jnp.result_type(*[jnp.real(x).dtype for x in wide])
    total = sum(jnp.sum(jnp.real(abs_sq(x))).astype(real) for x in wide)
    return jnp.sqrt(total)


def _stateless(fn):
    def init(params):
        _check.float_params(fn, params)
        return EmptyState()

    return init


def clip_by_global_norm(max_norm) -> GradientTransformation:
    r"""Rescale all updates together when their global norm exceeds ``max_norm``.

    ``u -> u * min(1, max_norm / ||u||)`` with ``||u||`` the ``global_norm`` of the
    whole tree, so the direction is kept.

    Args:
        max_norm: the largest allowed norm, ``> 0``; traceable.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.clip_by_global_norm(1.0)
        >>> t.update(jnp.array([3.0, 4.0]), t.init(jnp.zeros(2)))[0]
        Array([0.6, 0.8], dtype=float32)

    References:
        Pascanu, Mikolov and Bengio, *On the difficulty of training recurrent neural
        networks*, ICML 2013.
    """
    fn = "clip_by_global_norm"
    _check.hyperparameter(fn, "max_norm", max_norm, low=0.0, low_open=True)

    def update(updates, state, params=None):
        del params
        _check.state_type(fn, state, EmptyState)
        norm = global_norm(updates)
        factors = {}  # one scalar per compute dtype, not one per leaf (many-leaf models compile faster)

        def leaf(u):
            ct = compute_dtype(u.dtype)
            if ct not in factors:
                limit, n = as_dtype(max_norm, ct), norm.astype(ct)
                factors[ct] = jnp.where(n > limit, limit / n, jnp.ones([], ct))
            return (u.astype(ct) * factors[ct]).astype(u.dtype)

        return jax.tree.map(leaf, updates), state

    return GradientTransformation(_stateless(fn), update)


def clip(max_delta) -> GradientTransformation:
    """Clip every coordinate to ``[-max_delta, max_delta]``.

    Args:
        max_delta: the bound, ``>= 0``; traceable.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.clip(1.0)
        >>> t.update(jnp.array([-3.0, 0.5]), t.init(jnp.zeros(2)))[0]
        Array([-1. ,  0.5], dtype=float32)
    """
    fn = "clip"
    _check.non_negative(fn, "max_delta", max_delta)

    def update(updates, state, params=None):
        del params
        _check.state_type(fn, state, EmptyState)

        def leaf(u):
            bound = as_dtype(max_delta, u.dtype)
            return jnp.clip(u, -bound, bound)

        return jax.tree.map(leaf, updates), state

    return GradientTransformation(_stateless(fn), update)
