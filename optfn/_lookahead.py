"""Lookahead (Zhang et al., 2019): fast weights explore, slow weights follow every ``k`` steps."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from . import _check
from ._base import GradientTransformation
from ._numerics import zero_count


class LookaheadState(NamedTuple):
    """The fast optimizer's state and the fast steps since the last synchronisation."""

    fast_state: Any
    steps_since_sync: jax.Array


class LookaheadParams(NamedTuple):
    """The fast params (take gradients at these) and the slow ones (evaluate these)."""

    fast: Any
    slow: Any

    @classmethod
    def init_synced(cls, params) -> "LookaheadParams":
        """Fast and slow params both equal to ``params``."""
        return cls(fast=params, slow=params)


def lookahead(fast_optimizer, sync_period, slow_step_size, reset_state: bool = False) -> GradientTransformation:
    r"""Lookahead (Zhang et al., 2019, Algorithm 1) around ``fast_optimizer``.

    The fast params ``\theta`` take ``k = sync_period`` steps of the fast optimizer; then
    the slow params move toward them and the fast ones restart from there:

    $$ \phi \leftarrow \phi + \alpha(\theta_k - \phi), \qquad \theta_0 \leftarrow \phi, $$

    with ``\alpha = slow_step_size``. The params are a ``LookaheadParams`` pair
    (``LookaheadParams.init_synced(params)``), gradients are taken at ``params.fast``,
    and the update is a pair too: apply it unchanged with ``apply_updates``. Both
    ``sync_period`` and ``slow_step_size`` may be traced. ``reset_state`` restarts the
    fast optimizer's state at each synchronisation. As ``optax.lookahead``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.lookahead(optfn.sgd(1.0), sync_period=2, slow_step_size=0.5)
        >>> params = optfn.LookaheadParams.init_synced(jnp.zeros(1))
        >>> s = opt.init(params)
        >>> for _ in range(2):
        ...     u, s = opt.update(jnp.ones(1), s, params)
        ...     params = optfn.apply_updates(params, u)
        >>> params.slow, params.fast  # fast went to -2; slow went halfway, and fast with it
        (Array([-1.], dtype=float32), Array([-1.], dtype=float32))

    References:
        Zhang, Lucas, Hinton and Ba, *Lookahead Optimizer: k steps forward, 1 step back*,
        NeurIPS 2019.
    """
    fn = "lookahead"
    _check.transformation(fn, "fast_optimizer", fast_optimizer, "optfn.sgd(0.1)")
    _check.step_count(fn, "sync_period", sync_period, "It is the fast steps per slow step, e.g. 5.")
    _check.hyperparameter(fn, "slow_step_size", slow_step_size, low=0.0, high=1.0)
    _check.flag(fn, "reset_state", reset_state)

    def init(params):
        # plain params are taken as the fast ones (as optax does; its tree_map_params passes a stand-in)
        fast = getattr(params, "fast", None)
        return LookaheadState(fast_optimizer.init(params if fast is None else fast), zero_count())

    def update(updates, state, params=None):
        _check.state_type(fn, state, LookaheadState)
        if not isinstance(params, LookaheadParams) and getattr(params, "fast", None) is None:
            raise TypeError(f"{fn}: update needs the LookaheadParams pair as params, got {type(params).__name__}.")
        updates, fast_state = fast_optimizer.update(updates, state.fast_state, params.fast)
        sync = state.steps_since_sync == jnp.asarray(sync_period) - 1
        alpha = jnp.asarray(slow_step_size)
        gap = jax.tree.map(lambda f, u, s: f + u - s, params.fast, updates, params.slow)  # theta_k - phi
        slow = jax.tree.map(lambda d: (jnp.where(sync, alpha, 0) * d).astype(d.dtype), gap)
        fast = jax.tree.map(lambda u, d: (u - jnp.where(sync, 1 - alpha, 0) * d).astype(u.dtype), updates, gap)
        if reset_state:
            fresh = fast_optimizer.init(params.fast)
            fast_state = jax.tree.map(lambda c, i: jnp.where(sync, i, c).astype(jnp.asarray(c).dtype),
                                      fast_state, fresh)
        steps = (state.steps_since_sync + 1) % jnp.asarray(sync_period, jnp.int32)
        return LookaheadParams(fast=fast, slow=slow), LookaheadState(fast_state, steps)

    return GradientTransformation(init, update)
