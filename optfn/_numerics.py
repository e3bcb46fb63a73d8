"""Numeric helpers shared by the transformations.

Arithmetic on a leaf runs in its *compute dtype*: the leaf's own floating dtype, but at
least float32. bf16 and f16 parameters therefore keep their storage dtype while moments,
bias corrections and hyperparameters such as ``b2 = 0.999`` are evaluated in float32
(in bf16, 0.999 rounds to 1.0 and Adam's bias correction divides by zero).
"""

import jax
import jax.numpy as jnp

_INT32_MAX = jnp.iinfo(jnp.int32).max


def safe_increment(count: jax.Array) -> jax.Array:
    """``count + 1`` that stays at the int32 maximum instead of wrapping to negative.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> print(optfn.safe_increment(jnp.int32(2**31 - 1)))
        2147483647
    """
    return jnp.where(count < _INT32_MAX, count + 1, _INT32_MAX).astype(jnp.int32)


def zero_count() -> jax.Array:
    return jnp.zeros([], jnp.int32)


def compute_dtype(dtype) -> jnp.dtype:
    """The leaf's dtype, widened to float32 when it is a narrower float."""
    dtype = jnp.dtype(dtype)
    if jnp.issubdtype(dtype, jnp.floating) and dtype.itemsize < 4:
        return jnp.dtype(jnp.float32)
    return dtype


def as_dtype(value, dtype) -> jax.Array:
    """A hyperparameter (Python number or array, possibly traced) as an array of ``dtype``."""
    return jnp.asarray(value).astype(dtype)


def full_like(leaf, value, dtype=None) -> jax.Array:
    """``jnp.full`` from a leaf's shape and dtype; accepts ``jax.ShapeDtypeStruct``."""
    dtype = jnp.dtype(dtype if dtype is not None else leaf.dtype)
    return jnp.full(jnp.shape(leaf), as_dtype(value, dtype), dtype)


def map_leaves(fn, tree, *rest, n_out: int):
    """Apply ``fn`` leaf-wise over trees of one structure; ``fn`` returns ``n_out`` arrays.

    Returns a tuple of ``n_out`` trees with ``tree``'s structure, so one fused leaf
    function can produce the new updates and every new moment together.
    """
    leaves, treedef = jax.tree.flatten(tree)
    others = [treedef.flatten_up_to(t) for t in rest]
    outs = [fn(*args) for args in zip(leaves, *others)]
    return tuple(treedef.unflatten([o[i] for o in outs]) for i in range(n_out))


def bias_correction(decay, count, dtype) -> jax.Array:
    """``1 - decay**count`` in ``dtype`` (at least float32, so it never rounds to 0)."""
    return 1 - as_dtype(decay, dtype) ** count.astype(dtype)
