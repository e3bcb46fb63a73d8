"""Schedule-Free learning (Defazio et al., 2024): averaging instead of a decaying schedule.

The optimizer steps a sequence ``z``; the params handed back for gradients are an
interpolation ``y`` between ``z`` and a running average ``x`` of it; ``x`` is what to
evaluate. No decay schedule is needed: the average does what the decay would.
"""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from . import _check
from ._base import GradientTransformationExtraArgs
from ._chain import chain
from ._extra_args import with_extra_args_support
from ._numerics import compute_dtype, full_like, safe_increment
from ._rmsprop import scale_by_rms
from ._scale import scale_by_learning_rate
from ._schedules import linear
from ._sgd import sgd
from ._weight_decay import add_decayed_weights


class ScheduleFreeState(NamedTuple):
    """``b1``, the sum of averaging weights, the step count (from 1), the largest rate so far,
    the base optimizer's state and the sequence ``z``."""

    b1: jax.Array
    weight_sum: jax.Array
    step_count: jax.Array
    max_lr: jax.Array
    base_optimizer_state: Any
    z: Any


def _find(state) -> Optional[ScheduleFreeState]:
    """The ``ScheduleFreeState`` inside ``state`` (through chains, ``inject_hyperparams``, ...)."""
    found = [s for s in jax.tree.leaves(state, is_leaf=lambda s: isinstance(s, ScheduleFreeState))
             if isinstance(s, ScheduleFreeState)]
    if len(found) > 1:
        raise ValueError(f"schedule_free_eval_params: the state holds {len(found)} schedule-free states; pass the "
                         "one whose params to average.")
    return found[0] if found else None


def _average(sf: ScheduleFreeState, params):
    # x = (y - (1 - b1) z) / b1, the inverse of y = (1 - b1) z + b1 x
    def leaf(y, z):
        ct = compute_dtype(y.dtype)
        b = sf.b1.astype(ct)
        return ((y.astype(ct) - (1 - b) * z.astype(ct)) / b).astype(y.dtype)

    return jax.tree.map(leaf, params, sf.z)


def schedule_free_eval_params(state, params):
    r"""The params to evaluate: the average ``x = (y - (1 - b_1) z) / b_1``.

    ``state`` is the optimizer's state (a ``ScheduleFreeState`` or any state holding one,
    e.g. ``inject_hyperparams``'), ``params`` the training params ``y``. As
    ``optax.contrib.schedule_free_eval_params``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.schedule_free_sgd(1.0, b1=0.5)
        >>> params = jnp.ones(1)
        >>> s = opt.init(params)
        >>> u, s = opt.update(jnp.ones(1), s, params)
        >>> optfn.schedule_free_eval_params(s, params + u)  # z stepped to 0, x averaged to it
        Array([0.], dtype=float32)
    """
    sf = _find(state)
    if sf is None:
        raise ValueError(f"schedule_free_eval_params: the state holds no ScheduleFreeState (got "
                         f"{type(state).__name__}); pass the state of optfn.schedule_free(...) or of a "
                         "schedule_free_* optimizer.")
    return _average(sf, params)


def has_schedule_free(state) -> bool:
    return _find(state) is not None


def eval_params_or_same(state, params):
    """``schedule_free_eval_params`` when the state is schedule-free, else ``params``: what the
    sweeps evaluate and hand back."""
    sf = _find(state)
    return params if sf is None else _average(sf, params)


def schedule_free(base_optimizer, learning_rate, b1=0.9, weight_lr_power=2.0,
                  state_dtype: Optional[Any] = None) -> GradientTransformationExtraArgs:
    r"""Schedule-Free ``base_optimizer`` (Defazio et al., 2024, Algorithm 1, with their weighting).

    With ``\Delta_t`` the base optimizer's update (its learning rate inside, its momentum
    off) at the gradient taken at ``y_t``:

    $$
    z_{t+1} = z_t + \Delta_t, \quad
    c_{t+1} = \frac{\gamma_{\max,t}^{p}}{\sum_{i \le t} \gamma_{\max,i}^{p}}, \quad
    x_{t+1} = (1 - c_{t+1})\, x_t + c_{t+1} z_{t+1}, \quad
    y_{t+1} = (1 - b_1)\, z_{t+1} + b_1 x_{t+1},
    $$

    ``\gamma_{\max,t}`` the largest learning rate so far (a warm-up gets small weights),
    ``p = weight_lr_power``. The update returned is ``y_{t+1} - y_t``; evaluate at
    ``x`` with ``schedule_free_eval_params``. ``learning_rate``, ``b1`` and
    ``weight_lr_power`` may be traced (``b1 > 0``). As ``optax.contrib.schedule_free``.

    Args:
        base_optimizer: the optimizer stepping ``z`` (momentum off: ``b1`` replaces it).
        learning_rate: its learning rate (number, array or schedule), for the weights.
        b1: the interpolation between ``z`` and ``x``, in (0, 1].
        weight_lr_power: ``p`` above.
        state_dtype: dtype of ``z`` (``None``: the params').

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.schedule_free(optfn.sgd(0.5), learning_rate=0.5)
        >>> u, s = opt.update(jnp.ones(1), opt.init(jnp.zeros(1)), jnp.zeros(1))
        >>> u   # z moved by -0.5; x followed it at once (c_1 = 1); y = 0.1 z + 0.9 x
        Array([-0.5], dtype=float32)

    References:
        Defazio, Yang, Mehta, Mishchenko, Khaled and Cutkosky, *The Road Less Scheduled*,
        NeurIPS 2024.
    """
    fn = "schedule_free"
    _check.transformation(fn, "base_optimizer", base_optimizer, "optfn.sgd(1.0)")
    _check.learning_rate(fn, learning_rate)
    _check.hyperparameter(fn, "b1", b1, low=0.0, high=1.0, low_open=True,
                          hint="It interpolates between the iterate and its average; typical values 0.9 to 0.98.")
    _check.non_negative(fn, "weight_lr_power", weight_lr_power)
    _check.dtype_arg(fn, "state_dtype", state_dtype)
    base_optimizer = with_extra_args_support(base_optimizer)
    dtype = None if state_dtype is None else jnp.dtype(state_dtype)

    def init(params):
        _check.float_params(fn, params)
        z = jax.tree.map(lambda p: full_like(p, 0, dtype) if isinstance(p, jax.ShapeDtypeStruct)
                         else jnp.array(p, dtype=dtype or p.dtype, copy=True), params)
        f32 = jnp.float32
        return ScheduleFreeState(jnp.asarray(b1, f32), jnp.zeros([], f32), jnp.ones([], jnp.int32),
                                 jnp.zeros([], f32), base_optimizer.init(params), z)

    def update(grads, state, params=None, **extra_args):
        _check.state_type(fn, state, ScheduleFreeState)
        if params is None:
            raise ValueError(f"{fn}: update needs the params (the point y the gradients were taken at); call "
                             "update(grads, state, params).")
        lr = learning_rate(state.step_count) if callable(learning_rate) else learning_rate
        max_lr = jnp.maximum(state.max_lr, jnp.asarray(lr, jnp.float32))
        weight = max_lr ** jnp.asarray(weight_lr_power, jnp.float32)
        total = state.weight_sum + weight
        # all-zero weights so far (a warm-up from 0): no averaging yet, not 0/0
        ck = jnp.where(jnp.isnan(weight) | jnp.isnan(total), jnp.nan,
                       jnp.nan_to_num(weight / total, nan=0.0, posinf=jnp.inf))
        base_updates, base_state = base_optimizer.update(grads, state.base_optimizer_state, params, **extra_args)
        beta = jnp.asarray(b1, jnp.float32)
        z = jax.tree.map(lambda z, u: (z + u).astype(z.dtype), state.z, base_updates)

        def leaf(y, z_old, step):
            # y' - y = b1 c (z' - x) + (1 - b1) step, with x = (y - (1 - b1) z) / b1: the update
            # from its small parts, not as the difference of two nearly equal params
            ct = compute_dtype(y.dtype)
            b, c = beta.astype(ct), ck.astype(ct)
            z_new = z_old.astype(ct) + step.astype(ct)
            x = (y.astype(ct) - (1 - b) * z_old.astype(ct)) / b
            return (b * c * (z_new - x) + (1 - b) * step.astype(ct)).astype(y.dtype)

        updates = jax.tree.map(leaf, params, state.z, base_updates)
        return updates, ScheduleFreeState(state.b1, total, safe_increment(state.step_count), max_lr, base_state, z)

    return GradientTransformationExtraArgs(init, update)


def _warmup(learning_rate, warmup_steps):
    if warmup_steps is None:
        return learning_rate
    return linear(0.0, learning_rate, warmup_steps)


def schedule_free_sgd(learning_rate=1.0, warmup_steps: Optional[int] = None, b1=0.9, weight_decay=None,
                      weight_lr_power=2.0, state_dtype: Optional[Any] = None) -> GradientTransformationExtraArgs:
    r"""Schedule-Free SGD: ``schedule_free(sgd(lr), lr, b1)``, with an optional linear warm-up
    over ``warmup_steps`` and weight decay added to the gradient. As
    ``optax.contrib.schedule_free_sgd``.

    Example:
        >>> import jax, jax.numpy as jnp, optfn
        >>> opt = optfn.schedule_free_sgd(0.4)
        >>> params = jnp.array([1.0, -2.0])
        >>> s = opt.init(params)
        >>> for _ in range(50):
        ...     u, s = opt.update(jax.grad(lambda w: (w ** 2).sum())(params), s, params)
        ...     params = optfn.apply_updates(params, u)
        >>> print(optfn.schedule_free_eval_params(s, params).round(3))  # from [1, -2], near the minimum
        [-0.001  0.003]
    """
    _check.learning_rate("schedule_free_sgd", learning_rate)
    if weight_decay is not None:
        _check.weight_decay("schedule_free_sgd", weight_decay)
    lr = _warmup(learning_rate, warmup_steps)
    opt = sgd(lr) if weight_decay is None else chain(add_decayed_weights(weight_decay), sgd(lr))
    return schedule_free(opt, lr, b1, weight_lr_power, state_dtype)


def schedule_free_adamw(learning_rate=0.0025, warmup_steps: Optional[int] = None, b1=0.9, b2=0.999, eps=1e-8,
                        weight_decay=0.0, weight_lr_power=2.0,
                        state_dtype: Optional[Any] = None) -> GradientTransformationExtraArgs:
    r"""Schedule-Free AdamW (the AlgoPerf 2024 self-tuning winner's optimizer).

    The base optimizer is AdamW without momentum: ``\Delta = -lr\,(g / (\sqrt{\hat v} +
    \epsilon) + wd\, y)``, ``\hat v`` the bias-corrected second moment; ``b1`` is
    Schedule-Free's interpolation. As ``optax.contrib.schedule_free_adamw``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.schedule_free_adamw(0.1)
        >>> u, _ = opt.update(jnp.array([0.5, -2.0]), opt.init(jnp.zeros(2)), jnp.zeros(2))
        >>> u   # the first step is -lr sign(g), x and y follow z at once
        Array([-0.1,  0.1], dtype=float32)
    """
    fn = "schedule_free_adamw"
    _check.learning_rate(fn, learning_rate)
    _check.weight_decay(fn, weight_decay)
    lr = _warmup(learning_rate, warmup_steps)
    opt = chain(scale_by_rms(b2, eps, eps_in_sqrt=False, bias_correction=True), add_decayed_weights(weight_decay),
                scale_by_learning_rate(lr))
    return schedule_free(opt, lr, b1, weight_lr_power, state_dtype)
