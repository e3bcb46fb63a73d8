"""Decoupled weight decay: adding ``weight_decay * params`` to the updates."""

import jax
import jax.numpy as jnp
import numpy as np

from . import _check
from ._base import EmptyState, GradientTransformation
from ._numerics import as_dtype, compute_dtype, safe_increment, zero_count
from ._scale import ScaleByScheduleState


def _mask_leaves(fn, mask, params):
    """Flatten a mask (tree of bools or function of params) against the params tree."""
    tree = mask(params) if callable(mask) else mask
    mask_leaves, mask_def = jax.tree.flatten(tree)
    try:
        subtrees = mask_def.flatten_up_to(params)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"{fn}: mask must be a pytree of bools with the params' structure (or a "
            f"prefix of it), got {mask_def} for params {jax.tree.structure(params)}: {e}"
        ) from None
    return mask_leaves, mask_def, subtrees


def masked_map(fn, mask, leaf, updates, params):
    """``leaf(u, p, on)`` over the leaves a mask selects; the others pass unchanged.

    ``mask`` is ``None`` (every leaf: ``leaf(u, p)``), a pytree of bools that is a prefix
    of the params, or a function ``params -> that pytree``; a traced bool is passed on as
    ``on`` for ``leaf`` to apply with ``jnp.where``.
    """
    if mask is None:
        return jax.tree.map(leaf, updates, params)
    mask_leaves, mask_def, param_subtrees = _mask_leaves(fn, mask, params)
    out = []
    for on, us, ps in zip(mask_leaves, mask_def.flatten_up_to(updates), param_subtrees):
        out.append(us if on is False else jax.tree.map(lambda u, p, on=on: leaf(u, p, on), us, ps))
    return mask_def.unflatten(out)


def _is_zero(value) -> bool:
    """A concrete rate of exactly 0 (Python number or concrete array); traced: unknown."""
    if isinstance(value, jax.core.Tracer):
        return False
    try:
        return bool(np.all(np.asarray(value) == 0))
    except Exception:
        return False


def add_decayed_weights(weight_decay=0.0, mask=None) -> "GradientTransformation":
    r"""Add decoupled weight decay: ``u -> u + weight_decay(t) * W``.

    Placed before the learning rate (as in ``adamw``), this shrinks every weight by
    ``lr * weight_decay * W`` per step, independently of Adam's per-coordinate scaling.

    This building block takes any finite coefficient: a negative one grows the weights,
    which optax's ``fromage`` uses to rescale them. The optimizers built on it (``adamw``,
    ``lamb``, ``lion``, ...) refuse a negative ``weight_decay``, where it is a mistake.

    Args:
        weight_decay: the coefficient (traceable), or a schedule ``step -> coefficient``
            called with the int32 count of previous updates (the state then holds it).
        mask: ``None`` (decay everything), a pytree of bools (a prefix of the params
            tree; ``True`` decays), or a function ``params -> that pytree``, e.g. to
            spare biases and batch-norm scales.

    Returns:
        A ``GradientTransformation`` whose ``update`` needs ``params``; its state is
        ``EmptyState`` or, for a schedule, ``ScaleByScheduleState``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.add_decayed_weights(0.1, mask={"w": True, "b": False})
        >>> p = {"w": jnp.ones(1), "b": jnp.ones(1)}
        >>> t.update({"w": jnp.zeros(1), "b": jnp.zeros(1)}, t.init(p), p)[0]
        {'b': Array([0.], dtype=float32), 'w': Array([0.1], dtype=float32)}
    """
    fn = "add_decayed_weights"
    scheduled = callable(weight_decay)
    if not scheduled:
        _check.hyperparameter(fn, "weight_decay", weight_decay, hint="Pass 0.0 to turn weight decay off.")
    if mask is not None and not callable(mask):
        for leaf in jax.tree.leaves(mask):
            if not isinstance(leaf, (bool, jax.Array)) and not hasattr(leaf, "dtype"):
                raise TypeError(f"{fn}: mask leaves must be bools, got {leaf!r} of type {type(leaf).__name__}.")
    state_type = ScaleByScheduleState if scheduled else EmptyState

    def init(params):
        _check.float_params(fn, params)
        if mask is not None and not callable(mask):
            _mask_leaves(fn, mask, params)
        return ScaleByScheduleState(zero_count()) if scheduled else EmptyState()

    def update(updates, state, params=None):
        if params is None and not scheduled and _is_zero(weight_decay):
            return updates, state  # nothing to decay: a rate of exactly 0 needs no params
        if params is None:
            raise ValueError(
                f"{fn}: update needs the current params to decay them; call "
                "update(grads, state, params)."
            )
        _check.state_type(fn, state, state_type)
        _check.same_structure(fn, "updates", updates, "params", params)
        rate = weight_decay(state.count) if scheduled else weight_decay

        def decay(u, p, on=True):
            ct = compute_dtype(u.dtype)
            added = u.astype(ct) + as_dtype(rate, ct) * p.astype(ct)
            if on is not True:
                added = jnp.where(on, added, u.astype(ct))
            return added.astype(u.dtype)

        new_state = ScaleByScheduleState(safe_increment(state.count)) if scheduled else state
        return masked_map(fn, mask, decay, updates, params), new_state

    return GradientTransformation(init, update)
