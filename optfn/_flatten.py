"""The multi-tensor path: many small leaves updated as one flat vector per dtype."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _check
from ._base import GradientTransformation


class FlattenState(NamedTuple):
    """The inner transformation's state, over ``{dtype name: flat vector}``."""

    inner_state: object


def _groups(tree):
    """``leaves, treedef, {dtype name: [leaf indices]}`` (dtype groups in first-seen order)."""
    leaves, treedef = jax.tree.flatten(tree)
    groups = {}
    for i, x in enumerate(leaves):
        groups.setdefault(jnp.dtype(x.dtype).name, []).append(i)
    return leaves, treedef, groups


def _flat(tree):
    leaves, _, groups = _groups(tree)
    flat = {name: jnp.concatenate([jnp.ravel(leaves[i]) for i in idx]) if len(idx) > 1 else jnp.ravel(leaves[idx[0]])
            for name, idx in groups.items()}
    return jax.lax.optimization_barrier(flat)


def flatten(inner: GradientTransformation) -> GradientTransformation:
    r"""Run ``inner`` on one flat vector per dtype instead of on every leaf.

    A model with a thousand small leaves (every layer's weight, bias and norm scale) makes
    an element-wise optimizer trace, compile and launch a thousand small kernels; here the
    gradients (and params) are concatenated into one vector per dtype, ``inner`` updates
    those few long vectors, and the updates are split back into the params' shapes. The
    state is kept in the flat layout (``FlattenState``), so nothing is concatenated twice.

    The numbers are those of the per-leaf path for any ``inner`` that treats every
    coordinate alike: ``sgd`` (with momentum), ``adam``, ``adamw`` (without a mask),
    ``rmsprop``, ``adagrad``, ``lion``, ``inject_hyperparams`` of those, and chains of
    them. Transformations that look at a whole leaf (``lamb``, ``lars``,
    ``scale_by_trust_ratio``, ``adafactor``, ``clip_by_block_rms``, masks) would see one
    leaf per dtype; ``clip_by_global_norm`` is unaffected. optax's ``flatten`` with its
    name and meaning (optax concatenates every dtype into one vector; here each dtype
    keeps its own, so bf16 params stay bf16).

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> params = {"w": jnp.ones((2, 2)), "b": jnp.zeros(2)}
        >>> opt = optfn.flatten(optfn.adam(0.1))
        >>> updates, state = opt.update({"w": jnp.ones((2, 2)), "b": -jnp.ones(2)}, opt.init(params))
        >>> print(updates["b"], state.inner_state[0].mu["float32"].shape)
        [0.1 0.1] (6,)
    """
    fn = "flatten"
    if not (hasattr(inner, "init") and hasattr(inner, "update")):
        raise TypeError(f"{fn}: inner must be a GradientTransformation, got {inner!r}; e.g. "
                        "optfn.flatten(optfn.adam(1e-3)).")

    def init(params):
        return FlattenState(inner.init(_flat(params)))

    def update(updates, state, params=None):
        _check.state_type(fn, state, FlattenState)
        if params is not None:
            _check.same_structure(fn, "updates", updates, "params", params)
        leaves, treedef, groups = _groups(updates)
        flat_u, new_inner = inner.update(_flat(updates), state.inner_state, None if params is None else _flat(params))
        out = [None] * len(leaves)
        flat_u = jax.lax.optimization_barrier(flat_u)
        for name, idx in groups.items():
            sizes = [leaves[i].size for i in idx]
            pieces = jnp.split(flat_u[name], np.cumsum(sizes)[:-1]) if len(idx) > 1 else [flat_u[name]]
            for i, piece in zip(idx, pieces):
                out[i] = piece.reshape(leaves[i].shape)
        return treedef.unflatten(out), FlattenState(new_inner)

    return GradientTransformation(init, update)
