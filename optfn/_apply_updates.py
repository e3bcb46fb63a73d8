"""Applying updates to parameters."""

import jax
import jax.numpy as jnp

from . import _check
from ._numerics import compute_dtype


def apply_updates(params, updates):
    """Return ``params + updates``, leaf by leaf, keeping each parameter's dtype.

    The sum is formed in the wider of the two dtypes (at least float32) and rounded
    once to the parameter's dtype, so bf16 parameters take float32 updates without a
    double rounding. ``None`` parameters stay ``None``, whatever the updates hold there
    (as in optax: ``apply_updates(None, u)`` is ``None``).

    Args:
        params: a pytree of arrays.
        updates: a pytree of the same structure, e.g. from ``update``.

    Returns:
        The new parameters, with the structure and dtypes of ``params``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> optfn.apply_updates({"w": jnp.ones(2, jnp.bfloat16)}, {"w": jnp.full(2, 0.5)})
        {'w': Array([1.5, 1.5], dtype=bfloat16)}
    """
    is_none = lambda x: x is None  # noqa: E731
    if jax.tree.structure(updates) != jax.tree.structure(params):
        try:  # a None parameter takes no update: drop what the updates hold in its place
            updates = jax.tree.map(lambda p, u: None if p is None else u, params, updates, is_leaf=is_none)
        except (ValueError, TypeError):
            pass  # not a prefix either: same_structure names the paths that differ
    _check.same_structure("apply_updates", "updates", updates, "params", params)
    _check.float_params("apply_updates", params)

    def add(p, u):
        if p is None:
            return None
        p, u = jnp.asarray(p), jnp.asarray(u)
        wide = compute_dtype(p.dtype if p.dtype.itemsize >= u.dtype.itemsize else u.dtype)
        return (p.astype(wide) + u.astype(wide)).astype(p.dtype)

    return jax.tree.map(add, params, updates, is_leaf=is_none)
