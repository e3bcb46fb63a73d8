"""Reading and changing the hyperparameters ``inject_hyperparams`` keeps in a state.

``get_hyperparams`` and ``set_hyperparams`` find every ``InjectHyperparamsState`` in a
state (a chain's, a wrapper's, flax nnx's Variables), under ``jit``, and on a
``vmap``-stacked state with one value per trial.
"""

from typing import Any, Mapping, Optional

import jax
import jax.numpy as jnp

from . import _check
from ._inject import InjectHyperparamsState

def _key(path) -> str:
    parts = []
    for entry in path:
        for attr in ("key", "idx", "name"):
            if hasattr(entry, attr):
                parts.append(str(getattr(entry, attr)))
                break
    return "/".join(parts)


def _is_variable(x) -> bool:
    """A flax nnx ``Variable`` (``nnx.Optimizer`` wraps each state leaf in one)."""
    return type(x).__module__.startswith("flax.nnx") and hasattr(x, "get_value")


def _unwrap(x):
    return x.get_value() if _is_variable(x) else x


def _flat(tree) -> dict:
    """``{"learning_rate/peak_value": leaf, ...}`` for a dict of (nested) values; a flax
    nnx Variable counts as the value it holds, so names are the same everywhere."""
    return {_key(path): _unwrap(leaf)
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree, is_leaf=_is_variable)[0]}


def _parts(state) -> list:
    is_part = lambda x: isinstance(x, InjectHyperparamsState)  # noqa: E731
    return [x for x in jax.tree.leaves(state, is_leaf=is_part) if is_part(x)]


_NO_PARTS = (
    "{fn}: this state holds no stored hyperparameters. Build the optimizer with "
    "optfn.inject_hyperparams, e.g. optfn.inject_hyperparams(optfn.adam)(learning_rate=1e-3), "
    "and pass the state its init returned."
)


def get_hyperparams(state) -> dict:
    """The hyperparameters stored anywhere in an optimizer state, as a flat dict.

    Keys are the argument names (``"learning_rate"``, ``"b1"``). A scheduled
    hyperparameter maps to the value its schedule gave the latest update (before any
    update, the value the first update will use), and its schedule's parameters appear
    as ``"learning_rate/peak_value"`` and so on. On a ``vmap``-stacked state every value
    has a leading trial axis. Works under ``jit``.

    Args:
        state: the state of an ``inject_hyperparams`` optimizer, or of a chain or any
            pytree that contains one.

    Returns:
        ``dict[str, jax.Array]``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> sched = optfn.warmup_cosine_decay(0.0, 1e-3, warmup_steps=10, decay_steps=100)
        >>> opt = optfn.inject_hyperparams(optfn.adam)(learning_rate=sched)
        >>> hp = optfn.get_hyperparams(opt.init(jnp.zeros(2)))
        >>> print(sorted(hp))  # doctest: +NORMALIZE_WHITESPACE
        ['b1', 'b2', 'eps', 'eps_root', 'learning_rate', 'learning_rate/end_value',
         'learning_rate/exponent', 'learning_rate/init_value', 'learning_rate/peak_value']
    """
    parts = _parts(state)
    if not parts:
        raise ValueError(_NO_PARTS.format(fn="get_hyperparams"))
    out = {}
    for part in parts:
        found = _flat(part.hyperparams)
        found.update({f"{a}/{k}" if k else a: v for a, p in part.schedule_params.items() for k, v in _flat(p).items()})
        twice = sorted(set(found) & set(out))
        if twice:
            raise ValueError(
                f"get_hyperparams: {twice} are stored by more than one part of this state; "
                "call get_hyperparams on each part (e.g. state[0]) instead."
            )
        out.update(found)
    return out


def _converted(key: str, old: jax.Array, value) -> jax.Array:
    _check.hyperparameter("set_hyperparams", key, value)
    new = jnp.asarray(value).astype(old.dtype)
    if new.shape == old.shape:
        return new
    if new.ndim == 0:
        return jnp.broadcast_to(new, old.shape)
    raise ValueError(
        f"set_hyperparams: {key} has shape {old.shape} in this state, got a value of shape "
        f"{new.shape}. Pass a scalar (the same value for every trial), or an array with "
        "the stored shape (one value per trial of a vmap-stacked state)."
    )


def _set_in(tree, key_prefix: str, changes: Mapping[str, Any]):
    leaves_with_paths, treedef = jax.tree_util.tree_flatten_with_path(tree, is_leaf=_is_variable)
    leaves = []
    for path, leaf in leaves_with_paths:
        key = "/".join(k for k in (key_prefix, _key(path)) if k)
        if key in changes:
            new = _converted(key, _unwrap(leaf), changes[key])
            leaf = leaf.replace(new) if _is_variable(leaf) else new
        leaves.append(leaf)
    return jax.tree.unflatten(treedef, leaves)


def set_hyperparams(state, values: Optional[Mapping[str, Any]] = None, /, **kwargs):
    """A copy of ``state`` with new values for some stored hyperparameters.

    Names are those of ``get_hyperparams``: ``set_hyperparams(state, learning_rate=1e-4)``
    for a constant, ``set_hyperparams(state, {"learning_rate/peak_value": 2e-3})`` for a
    schedule's parameter. Each new value takes the stored dtype and shape (a scalar is
    broadcast over the trials of a stacked state; an array gives one value per trial),
    so a jitted step that takes this state does not recompile. Works under ``jit`` and
    on any pytree that contains the state, such as a chain's.

    Args:
        state: the state of an ``inject_hyperparams`` optimizer, or a pytree holding one.
        values: a mapping ``name -> value``, for names that are not identifiers.
        **kwargs: ``name=value``.

    Returns:
        The new state; ``state`` itself is unchanged.

    Raises:
        ValueError: for a name the state does not store (the message lists the names it
            does), for the value of a scheduled hyperparameter (set its schedule's
            parameters instead), and for a shape that does not fit.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.inject_hyperparams(optfn.adam)(learning_rate=1e-2, b1=0.9)
        >>> state = optfn.set_hyperparams(opt.init(jnp.zeros(3)), learning_rate=1e-3, b1=0.8)
        >>> print(optfn.get_hyperparams(state)["b1"])
        0.8
    """
    changes = {**(values or {}), **kwargs}
    parts = _parts(state)
    if not parts:
        raise ValueError(_NO_PARTS.format(fn="set_hyperparams"))
    settable = [
        {k for k in _flat(p.hyperparams) if k.split("/")[0] not in p.schedule_params}
        | {f"{a}/{k}" for a, q in p.schedule_params.items() for k in _flat(q)} for p in parts
    ]
    for key in changes:
        owners = [i for i, keys in enumerate(settable) if key in keys]
        if len(owners) > 1:
            raise ValueError(
                f"set_hyperparams: {key!r} is stored by {len(owners)} parts of this state; "
                "set it on each part (e.g. state[0]) instead."
            )
        if owners:
            continue
        if any(key in p.schedule_params for p in parts):
            own = sorted(k for keys in settable for k in keys if k.startswith(key + "/"))
            raise ValueError(
                f"set_hyperparams: {key} follows a schedule, so its value cannot be set. "
                + (f"Set the schedule's parameters instead: {own}." if own else
                   "It is a plain function with no parameters; to control it, build the "
                   "optimizer with a number or an optfn schedule (a ParametricSchedule).")
            )
        raise ValueError(
            f"set_hyperparams: unknown hyperparameter {key!r}; this state stores "
            f"{sorted(set().union(*settable))}."
        )

    for p in parts:
        constants = {k: v for k, v in changes.items() if k in p.hyperparams and k not in p.schedule_params}
        if p.check is not None and constants:
            try:
                p.check(constants)
            except (ValueError, TypeError) as e:
                raise type(e)(f"set_hyperparams: {e}") from None
        for key, v in changes.items():  # a schedule's parameters: finite numbers
            if "/" in key and key.split("/")[0] in p.schedule_params:
                _check.hyperparameter("set_hyperparams", key, v)
                if key.split("/")[0] == "learning_rate" and key.endswith("value"):
                    _check.hyperparameter("set_hyperparams", key, v, low=0.0,
                                          hint="A negative learning rate climbs the loss.")

    def replace(part):
        if not isinstance(part, InjectHyperparamsState):
            return part
        schedule_params = {a: _set_in(q, a, changes) for a, q in part.schedule_params.items()}
        constants = {a: v for a, v in changes.items() if a not in part.schedule_params}
        return part._replace(hyperparams=_set_in(part.hyperparams, "", constants), schedule_params=schedule_params)

    return jax.tree.map(replace, state, is_leaf=lambda x: isinstance(x, InjectHyperparamsState))
