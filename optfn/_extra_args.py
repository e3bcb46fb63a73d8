"""Keyword arguments of ``update`` (``value=loss``) passed only to the parts that take them."""

import inspect

from . import _check
from ._base import GradientTransformation, GradientTransformationExtraArgs


def takes_extra_args(tx) -> bool:
    """Whether ``tx.update`` accepts ``**kwargs`` (optfn's and optax's wrappers do)."""
    if isinstance(tx, GradientTransformationExtraArgs):
        return True
    try:
        params = inspect.signature(tx.update).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def with_extra_args_support(tx: GradientTransformation) -> GradientTransformationExtraArgs:
    """``tx`` with an ``update`` that takes keyword arguments and ignores those ``tx`` cannot take.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.with_extra_args_support(optfn.scale(2.0))
        >>> t.update(jnp.ones(1), t.init(jnp.ones(1)), value=3.0)[0]
        Array([2.], dtype=float32)
    """
    _check.transformation("with_extra_args_support", "tx", tx)
    if takes_extra_args(tx):
        return tx if isinstance(tx, GradientTransformationExtraArgs) else GradientTransformationExtraArgs(
            tx.init, tx.update)

    def update(updates, state, params=None, **extra_args):
        del extra_args
        return tx.update(updates, state, params)

    return GradientTransformationExtraArgs(tx.init, update)
