"""Numeric helpers shared by the transformations.

Arithmetic on a leaf runs in its *compute dtype*: the leaf's own floating dtype, but at
least float32. bf16 and f16 parameters therefore keep their storage dtype while moments,
bias corrections and hyperparameters such as ``b2 = 0.999`` are evaluated in float32
(in bf16, 0.999 rounds to 1.0 and Adam's bias correction divides by zero).
"""

import jax
import jax.numpy as jnp


class CountDtypeError(TypeError, ValueError):
    """A step count of a dtype that cannot count. A ``TypeError`` (the argument's type is
    wrong) that is also a ``ValueError``, the type optax's ``safe_increment`` raises, so
    code written against either catches it."""


def safe_increment(count: jax.Array) -> jax.Array:
    """``count + 1`` that stays at its dtype's maximum instead of wrapping around.

    Integer counts saturate at their own dtype's maximum (int8 at 127, int32 at
    2**31 - 1), float counts at the largest finite value; the dtype is kept. Booleans,
    complex numbers and other dtypes raise ``TypeError`` (an error class that is also a
    ``ValueError``, as optax's is).

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> print(optfn.safe_increment(jnp.int32(2**31 - 1)), optfn.safe_increment(jnp.int8(127)))
        2147483647 127
    """
    count = jnp.asarray(count)
    dtype = count.dtype
    if jnp.issubdtype(dtype, jnp.integer) and dtype != jnp.bool_:
        top = jnp.iinfo(dtype).max
    elif jnp.issubdtype(dtype, jnp.floating):
        top = jnp.finfo(dtype).max
    else:
        raise CountDtypeError(f"safe_increment: count must be an integer or float array, got dtype {dtype}; "
                              "step counters are int32 (jnp.zeros([], jnp.int32)).")
    top = jnp.asarray(top, dtype)
    return jnp.where(count < top, count + jnp.asarray(1, dtype), top)


def abs_sq(x) -> jax.Array:
    """``|x|**2``: ``x * x`` for real ``x``, ``(conj(x) * x).real`` for complex ``x`` (a second
    moment must be real and non-negative; ``x * x`` of a complex number is neither)."""
    if jnp.iscomplexobj(x):  # kept in x's dtype (zero imaginary part), as optax's moments are
        return (jnp.conj(x) * x).real.astype(x.dtype)
    return x * x


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

