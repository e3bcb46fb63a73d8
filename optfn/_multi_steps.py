"""Gradient accumulation: one optimizer step from the gradients of ``k`` mini-batches."""

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from . import _check
from ._base import GradientTransformationExtraArgs
from ._extra_args import with_extra_args_support
from ._numerics import safe_increment, zero_count


class MultiStepsState(NamedTuple):
    """``mini_step`` (0..k-1), ``gradient_step`` (inner steps taken), the wrapped optimizer's
    state, the running accumulation and what ``should_skip_update_fn`` reported."""

    mini_step: jax.Array
    gradient_step: jax.Array
    inner_opt_state: Any
    acc_grads: Any
    skip_state: Any = ()


def skip_not_finite(updates, gradient_step, params):
    """``should_skip_update_fn`` that skips a mini-step whose gradients hold an inf or a NaN.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> skip, info = optfn.skip_not_finite(jnp.array([1.0, jnp.nan]), 0, None)
        >>> bool(skip), int(info["num_not_finite"])
        (True, 1)
    """
    del gradient_step, params
    count = sum(jnp.sum(~jnp.isfinite(u)) for u in jax.tree.leaves(updates)) + jnp.int32(0)
    return count > 0, {"should_skip": count > 0, "num_not_finite": count}


def skip_large_updates(updates, gradient_step, params, max_squared_norm):
    """``should_skip_update_fn`` (bind ``max_squared_norm`` with ``functools.partial``) that
    skips a mini-step whose gradients' squared norm is not below ``max_squared_norm``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> bool(optfn.skip_large_updates(jnp.array([3.0, 4.0]), 0, None, max_squared_norm=20.0)[0])
        True
    """
    del gradient_step, params
    norm_sq = sum(jnp.sum(jnp.square(u)) for u in jax.tree.leaves(updates)) + jnp.float32(0)
    skip = ~(norm_sq < max_squared_norm)
    return skip, {"should_skip": skip, "norm_squared": norm_sq}


def _never_skip(updates, gradient_step, params):
    del updates, gradient_step, params
    return jnp.array(False), ()


class MultiSteps:
    r"""Accumulate the gradients of ``k`` mini-steps, then take one step of ``opt``.

    With ``use_grad_mean`` the step is taken on the mean ``\bar g = \frac1k \sum_j g_j``
    (the sum otherwise); the mini-steps in between return zero updates and leave the
    wrapped optimizer's state alone. ``every_k_schedule`` is an int, an int array
    (traced too: a sweep over the effective batch size is one program), or a function of
    the gradient-step count, so the batch can grow during training. A mini-step that
    ``should_skip_update_fn`` rejects (``skip_not_finite``) is as if it never happened.
    As ``optax.MultiSteps``.

    Args:
        opt: the wrapped optimizer.
        every_k_schedule: ``k``, or a function gradient_step -> ``k``.
        use_grad_mean: average (True) or sum the mini-steps' gradients.
        should_skip_update_fn: ``(updates, gradient_step, params) -> (skip, info)``.
        accumulator_dtype: the accumulator's dtype (``None``: the params').

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.MultiSteps(optfn.sgd(1.0), every_k_schedule=2)
        >>> s = opt.init(jnp.zeros(1))
        >>> u, s = opt.update(jnp.array([1.0]), s)
        >>> u   # the first mini-step is only recorded
        Array([0.], dtype=float32)
        >>> opt.update(jnp.array([3.0]), s)[0]   # the step on the mean gradient, 2
        Array([-2.], dtype=float32)
    """

    def __init__(self, opt, every_k_schedule, use_grad_mean: bool = True,
                 should_skip_update_fn: Optional[Callable] = None, accumulator_dtype: Optional[Any] = None):
        fn = "MultiSteps"
        _check.transformation(fn, "opt", opt)
        if not callable(every_k_schedule):
            _check.step_count(fn, "every_k_schedule", every_k_schedule,
                              "It is the number of mini-steps per optimizer step, e.g. 4.")
        _check.flag(fn, "use_grad_mean", use_grad_mean)
        _check.dtype_arg(fn, "accumulator_dtype", accumulator_dtype)
        self._opt = with_extra_args_support(opt)
        self._k = every_k_schedule if callable(every_k_schedule) else (lambda step: every_k_schedule)
        self._use_grad_mean = use_grad_mean
        self._skip = should_skip_update_fn or _never_skip
        self._acc_dtype = None if accumulator_dtype is None else jnp.dtype(accumulator_dtype)

    @property
    def inner_opt(self):
        return self._opt

    def init(self, params) -> MultiStepsState:
        zeros = jax.tree.map(lambda p: jnp.zeros(jnp.shape(p), self._acc_dtype or p.dtype), params)
        _, skip_state = self._skip(jax.tree.map(jnp.zeros_like, params), zero_count(), params)
        return MultiStepsState(zero_count(), zero_count(), self._opt.init(params), zeros, skip_state)

    def update(self, updates, state, params=None, **extra_args):
        _check.state_type("MultiSteps", state, MultiStepsState)
        k = jnp.asarray(self._k(state.gradient_step), jnp.int32)
        skip, skip_state = self._skip(updates, state.gradient_step, params)
        skip = jnp.asarray(skip)
        if skip.dtype != jnp.bool_ or skip.shape != ():
            raise ValueError(f"MultiSteps: should_skip_update_fn must return a boolean scalar first, got dtype "
                             f"{skip.dtype} and shape {skip.shape}.")
        n = state.mini_step
        if self._use_grad_mean:  # the running mean, so no sum of k gradients can overflow
            acc = jax.tree.map(lambda g, a: a + (g - a) / (n + 1).astype(jnp.result_type(a, jnp.float32))
                               .astype(a.dtype), updates, state.acc_grads)
        else:
            acc = jax.tree.map(lambda g, a: a + g, updates, state.acc_grads)
        step, inner_state = self._opt.update(jax.tree.map(lambda a, g: a.astype(g.dtype), acc, updates),
                                             state.inner_opt_state, params, **extra_args)
        emit = jnp.logical_and(n == k - 1, ~skip)
        keep = lambda new, old: jnp.where(emit, new, old).astype(jnp.asarray(old).dtype)  # noqa: E731
        new_state = MultiStepsState(
            mini_step=jnp.where(skip, n, safe_increment(n) % k),
            gradient_step=jnp.where(emit, safe_increment(state.gradient_step), state.gradient_step),
            inner_opt_state=jax.tree.map(keep, inner_state, state.inner_opt_state),
            acc_grads=jax.tree.map(lambda a, old: jnp.where(skip, old, jnp.where(emit, 0, a)).astype(old.dtype),
                                   acc, state.acc_grads),
            skip_state=skip_state)
        out = jax.tree.map(lambda u, g: jnp.where(emit, u, 0).astype(g.dtype), step, updates)
        return out, new_state

    def has_updated(self, state) -> jax.Array:
        """True after a mini-step that took an optimizer step."""
        return jnp.logical_and(state.mini_step == 0, state.gradient_step > 0)

    def gradient_transformation(self) -> GradientTransformationExtraArgs:
        """The wrapper as a plain ``(init, update)`` pair."""
        return GradientTransformationExtraArgs(self.init, self.update)
