"""Composition of gradient transformations."""

from ._base import GradientTransformationExtraArgs
from ._extra_args import takes_extra_args


def chain(*transforms) -> GradientTransformationExtraArgs:
    """Apply transformations one after another: ``u -> t_n(...t_2(t_1(u)))``.

    The state is the tuple of the parts' states. Any object with ``init`` and
    ``update`` fits, optax's transformations included; keyword arguments given to
    ``update`` (such as ``value=loss`` for optax's ``reduce_on_plateau``) reach the parts
    whose ``update`` accepts ``**kwargs``.

    Args:
        *transforms: the transformations, applied in order.

    Returns:
        A ``GradientTransformationExtraArgs`` (a ``GradientTransformation`` whose
        ``update`` takes keyword arguments).

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.chain(optfn.clip_by_global_norm(1.0), optfn.scale(-0.1))
        >>> state = opt.init(jnp.zeros(2))
        >>> print(opt.update(jnp.array([3.0, 4.0]), state)[0])
        [-0.06 -0.08]
    """
    for i, t in enumerate(transforms):
        if not (callable(getattr(t, "init", None)) and callable(getattr(t, "update", None))):
            raise TypeError(
                f"chain: argument {i} is a {type(t).__name__}, not a gradient "
                "transformation (an object with init and update). Did you pass an "
                "optimizer factory without calling it, e.g. optfn.adam instead of optfn.adam(1e-3)?"
            )
    extra = tuple(takes_extra_args(t) for t in transforms)

    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(updates, state, params=None, **extra_args):
        if not isinstance(state, tuple) or len(state) != len(transforms):
            got = f"a tuple of {len(state)}" if isinstance(state, tuple) else f"a {type(state).__name__}"
            raise TypeError(
                f"chain.update: expected the state of a chain of {len(transforms)} "
                f"transformations (a tuple of {len(transforms)}), got {got}. Pass the "
                "state returned by this chain's init."
            )
        new_state = []
        for t, s, takes in zip(transforms, state, extra):
            if takes:
                updates, s = t.update(updates, s, params, **extra_args)
            else:
                updates, s = t.update(updates, s, params)
            new_state.append(s)
        return updates, tuple(new_state)

    return GradientTransformationExtraArgs(init, update)
