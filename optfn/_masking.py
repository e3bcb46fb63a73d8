"""Apply a transformation to some leaves of the params and pass the others through."""

from typing import Any, NamedTuple

import jax

from . import _check
from ._base import GradientTransformationExtraArgs
from ._extra_args import with_extra_args_support


class MaskedNode(NamedTuple):
    """Stands for a leaf the mask leaves out: an empty pytree, so the wrapped optimizer keeps
    no state for it."""


class MaskedState(NamedTuple):
    """The wrapped transformation's state, over the selected leaves only."""

    inner_state: Any


def _is_callable_mask(mask) -> bool:
    leaves = jax.tree.leaves(jax.tree.map(callable, mask))
    return bool(leaves) and all(leaves)


def resolve_mask(fn, mask, tree):
    """The mask as a tree of bools over ``tree`` (a prefix of it allowed), checked."""
    mask_tree = mask(tree) if _is_callable_mask(mask) else mask
    try:
        jax.tree.structure(mask_tree).flatten_up_to(tree)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{fn}: the mask must be a tree of bools with the params' structure (or a prefix of "
                         f"it), got {jax.tree.structure(mask_tree)} for params {jax.tree.structure(tree)}: "
                         f"{e}") from None
    return mask_tree


def mask_tree(tree, mask_tree):
    return jax.tree.map(lambda m, p: p if m else MaskedNode(), mask_tree, tree)


def masked(inner, mask, *, mask_compatible_extra_args: bool = False) -> GradientTransformationExtraArgs:
    r"""``inner`` applied to the leaves where ``mask`` is True; the others pass through unchanged.

    $$ u'_i = \begin{cases} \mathrm{inner}(u)_i & m_i \\ u_i & \text{otherwise} \end{cases} $$

    The wrapped transformation sees only the selected leaves (the others are
    ``MaskedNode()``, an empty pytree), so it keeps no state for them. ``mask`` is a
    tree of bools with the params' structure or a prefix of it, or a function of the
    params returning one; it is static (a Python structure), the wrapped optimizer's
    hyperparameters may be traced as usual. As ``optax.masked``.

    Args:
        inner: the transformation to apply (optfn's or optax's).
        mask: the selection, or a function params -> selection.
        mask_compatible_extra_args: also mask keyword arguments of ``update`` whose tree
            has the updates' structure.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> params = {"w": jnp.ones(2), "b": jnp.ones(1)}
        >>> decay = optfn.masked(optfn.add_decayed_weights(0.1), {"w": True, "b": False})
        >>> u, _ = decay.update({"w": jnp.zeros(2), "b": jnp.zeros(1)}, decay.init(params), params)
        >>> u["w"], u["b"]
        (Array([0.1, 0.1], dtype=float32), Array([0.], dtype=float32))
    """
    fn = "masked"
    _check.transformation(fn, "inner", inner, "optfn.add_decayed_weights(1e-4)")
    _check.flag(fn, "mask_compatible_extra_args", mask_compatible_extra_args)
    inner = with_extra_args_support(inner)

    def init(params):
        if not jax.tree.leaves(params) and jax.tree.structure(params) != jax.tree.structure(mask):
            # a stand-in without leaves (optax.tree_utils.tree_map_params' placeholder): nothing to mask
            return MaskedState(inner.init(params))
        return MaskedState(inner.init(mask_tree(params, resolve_mask(fn, mask, params))))

    def update(updates, state, params=None, **extra_args):
        _check.state_type(fn, state, MaskedState)
        selection = resolve_mask(fn, mask, updates)
        if mask_compatible_extra_args:
            structure = jax.tree.structure(updates)
            extra_args = {k: mask_tree(v, selection) if jax.tree.structure(v) == structure else v
                          for k, v in extra_args.items()}
        new, inner_state = inner.update(mask_tree(updates, selection), state.inner_state,
                                        None if params is None else mask_tree(params, selection), **extra_args)
        out = jax.tree.map(lambda m, n, u: n if m else u, selection, new, updates)
        return out, MaskedState(inner_state)

    return GradientTransformationExtraArgs(init, update)
