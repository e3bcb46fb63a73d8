"""The gradient-transformation protocol.

A gradient transformation is a pair of pure functions::

    init(params) -> state
    update(updates, state, params=None) -> (new_updates, new_state)

``params`` and ``updates`` are pytrees of the same structure; ``state`` is any pytree
of arrays. Invariants every optfn transformation keeps:

* ``jax.tree.structure(update(u, s, p)[1]) == jax.tree.structure(s)``, with the same
  leaf shapes and dtypes, so a training step can live in ``jax.lax.scan`` and compiles
  once;
* ``init`` reads only shapes and dtypes, so it also accepts ``jax.ShapeDtypeStruct``;
* every numeric hyperparameter may be a traced array (``jax.vmap`` over learning
  rates works), and structural switches (``nesterov``, ``centered``) are Python bools.

The shape is optax's, so optfn transformations sit inside ``optax.chain`` and optax
transformations inside ``optfn.chain``.

Example:
    >>> import jax, jax.numpy as jnp, optfn
    >>> params = {"w": jnp.ones(3)}
    >>> opt = optfn.adam(1e-2)
    >>> state = opt.init(params)
    >>> loss = lambda p: jnp.sum(p["w"] ** 2)
    >>> for _ in range(3):
    ...     grads = jax.grad(loss)(params)
    ...     updates, state = opt.update(grads, state, params)
    ...     params = optfn.apply_updates(params, updates)
    >>> print(params["w"])
    [0.97 0.97 0.97]
"""

from typing import Any, Callable, NamedTuple, Optional, Protocol

import jax

Params = Any  # a pytree of arrays
Updates = Any  # a pytree of arrays with the structure of Params
OptState = Any  # a pytree of arrays
Schedule = Callable[[jax.Array], jax.Array]  # step count -> value


class TransformInitFn(Protocol):
    def __call__(self, params: Params) -> OptState: ...


class TransformUpdateFn(Protocol):
    def __call__(
        self, updates: Updates, state: OptState, params: Optional[Params] = None
    ) -> tuple[Updates, OptState]: ...


class GradientTransformation(NamedTuple):
    """A pure ``(init, update)`` pair; see the module docstring for the contract."""

    init: TransformInitFn
    update: TransformUpdateFn


class TransformUpdateExtraArgsFn(Protocol):
    def __call__(
        self, updates: Updates, state: OptState, params: Optional[Params] = None, **extra_args: Any
    ) -> tuple[Updates, OptState]: ...


class GradientTransformationExtraArgs(GradientTransformation):
    """A ``GradientTransformation`` whose ``update`` also takes keyword arguments.

    ``update(updates, state, params=None, **extra_args)``: the extra arguments (such as
    ``value=loss``) go to the parts that use them and are ignored by the others. ``chain``
    returns one, so optax code that asks ``isinstance(tx, GradientTransformationExtraArgs)``
    (``optax.MultiSteps``, ``optax.with_extra_args_support``) passes the arguments on
    instead of dropping them.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.chain(optfn.scale(-0.1))
        >>> isinstance(opt, optfn.GradientTransformationExtraArgs)
        True
        >>> opt.update(jnp.ones(2), opt.init(jnp.ones(2)), value=jnp.float32(3.0))[0]
        Array([-0.1, -0.1], dtype=float32)
    """

    update: TransformUpdateExtraArgsFn


class EmptyState(NamedTuple):
    """The state of a transformation that keeps none."""


def identity() -> GradientTransformation:
    """The transformation that returns its updates unchanged: ``u -> u``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.identity()
        >>> t.update(jnp.ones(2), t.init(jnp.ones(2)))[0]
        Array([1., 1.], dtype=float32)
    """

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        del params
        return updates, state

    return GradientTransformation(init, update)
