"""Learning-rate schedules: pure functions ``step -> value``.

Every numeric value (``init_value``, ``decay_rate``, ``peak_value``, ``end_value``,
``alpha``, ``power``, ``k``, scales) may be a traced array, so
``jax.vmap(lambda r: exponential_decay(1.0, 10, r)(step))(rates)`` works. Step counts
(``transition_steps``, ``decay_steps``, ``warmup_steps``, boundaries, ``steps_per_epoch``)
are static Python integers and are checked when the schedule is built. Values are float32.

Each schedule is a ``ParametricSchedule`` whose ``params`` are exactly its numeric
values, so ``inject_hyperparams`` can keep them in the optimizer state.

A schedule is called with the count of previous updates (0 on the first), and goes
wherever a learning rate goes: ``optfn.adam(optfn.cosine_decay(1e-3, 10_000))``. The
lecture notes decay per epoch; ``per_epoch(schedule, steps_per_epoch)`` turns any
schedule of epochs into one of steps.
"""

import numbers
from typing import Optional, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp

from . import _check
from ._parametric_schedule import ParametricSchedule

_F32 = jnp.float32


def _f32(x):
    return jnp.asarray(x).astype(_F32)


def _steps(fn: str, name: str, value, *, positive: bool = True) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{fn}: {name} must be a Python int (a static step count), got {name}={value!r}.")
    if value < (1 if positive else 0):
        raise ValueError(f"{fn}: {name} must be {'> 0' if positive else '>= 0'}, got {name}={value}.")
    return int(value)


def _progress(step, begin: int, steps: int, staircase: bool = False):
    """Steps since ``begin`` (clipped at 0) divided by ``steps``, in float32."""
    p = jnp.maximum(_f32(step) - float(begin), 0) / float(steps)  # floats: counts past int32 are fine
    return jnp.floor(p) if staircase else p


def _parametric(schedule) -> ParametricSchedule:
    """Any schedule as a ``ParametricSchedule``; a plain function gets no parameters."""
    if isinstance(schedule, ParametricSchedule):
        return schedule
    return ParametricSchedule(lambda _, step: schedule(step), {})


def constant(value) -> ParametricSchedule:
    """``step -> value``.

    Example:
        >>> import optfn
        >>> print(optfn.constant(0.1)(1000))
        0.1
    """
    _check.hyperparameter("constant", "value", value)

    def constant(p, step):
        return jnp.full(jnp.shape(step), _f32(p["value"]))

    return ParametricSchedule(constant, {"value": value})


def linear(init_value, end_value, transition_steps: int, transition_begin: int = 0) -> ParametricSchedule:
    r"""Linear from ``init_value`` to ``end_value`` over ``transition_steps``, then constant.

    ``v(t) = a + (b - a) * clip((t - begin) / steps, 0, 1)``.

    Example:
        >>> import optfn
        >>> s = optfn.linear(1.0, 0.0, transition_steps=4)
        >>> print([float(s(t)) for t in (0, 2, 4, 8)])
        [1.0, 0.5, 0.0, 0.0]
    """
    return _polynomial("linear", init_value, end_value, 1.0, transition_steps, transition_begin)


def polynomial(init_value, end_value, power, transition_steps: int, transition_begin: int = 0) -> ParametricSchedule:
    r"""``v(t) = b + (a - b) * (1 - clip((t - begin) / steps, 0, 1)) ** power``, ``power >= 0``.

    Example:
        >>> import optfn
        >>> print(float(optfn.polynomial(1.0, 0.0, 2.0, transition_steps=10)(5)))
        0.25
    """
    return _polynomial("polynomial", init_value, end_value, power, transition_steps, transition_begin)


def _polynomial(fn, init_value, end_value, power, transition_steps, transition_begin) -> ParametricSchedule:
    for name, v in (("init_value", init_value), ("end_value", end_value)):
        _check.hyperparameter(fn, name, v)
    _check.hyperparameter(fn, "power", power, low=0.0,  # a negative power divides by zero at the end
                          hint="A negative power is infinite at the end of the transition; pass power >= 0.")
    steps = _steps(fn, "transition_steps", transition_steps)
    begin = _steps(fn, "transition_begin", transition_begin, positive=False)

    def polynomial(p, step):
        frac = 1 - jnp.minimum(_progress(step, begin, steps), 1)
        a, b = _f32(p["init_value"]), _f32(p["end_value"])
        return b + (a - b) * frac ** _f32(p["power"])

    return ParametricSchedule(polynomial, {"init_value": init_value, "end_value": end_value, "power": power})


def exponential_decay(
    init_value, transition_steps: int, decay_rate, transition_begin: int = 0, staircase: bool = False, end_value=None
) -> ParametricSchedule:
    r"""``v(t) = a0 * decay_rate ** ((t - begin) / transition_steps)``.

    With ``transition_steps`` = steps per epoch and ``decay_rate=0.95`` this is the notes'
    ``0.95**epoch * a0``; ``staircase`` floors the exponent. ``end_value`` bounds the
    value (from below when ``decay_rate < 1``, from above otherwise; decided on the
    values, so a traced ``decay_rate`` works).

    Example:
        >>> import optfn
        >>> s = optfn.exponential_decay(1.0, transition_steps=10, decay_rate=0.5)
        >>> print([float(s(t)) for t in (0, 10, 20)])
        [1.0, 0.5, 0.25]
    """
    _check.flag("exponential_decay", "staircase", staircase)
    fn = "exponential_decay"
    _check.hyperparameter(fn, "init_value", init_value)
    _check.hyperparameter(fn, "decay_rate", decay_rate, low=0.0, low_open=True)
    if end_value is not None:
        _check.hyperparameter(fn, "end_value", end_value)
    steps = _steps(fn, "transition_steps", transition_steps)
    begin = _steps(fn, "transition_begin", transition_begin, positive=False)

    def exponential_decay(p, step):
        rate = _f32(p["decay_rate"])
        value = _f32(p["init_value"]) * rate ** _progress(step, begin, steps, staircase)
        if "end_value" in p:
            end = _f32(p["end_value"])
            value = jnp.where(rate < 1, jnp.maximum(value, end), jnp.minimum(value, end))
        return value

    params = {"init_value": init_value, "decay_rate": decay_rate}
    if end_value is not None:
        params["end_value"] = end_value
    return ParametricSchedule(exponential_decay, params)


def inverse_time_decay(init_value, decay_rate, transition_steps: int = 1, staircase: bool = False) -> ParametricSchedule:
    r"""The notes' ``a0 / (1 + decay_rate * epoch)``, with ``epoch = t / transition_steps``.

    Example:
        >>> import optfn
        >>> s = optfn.inverse_time_decay(0.2, decay_rate=1.0)
        >>> print([round(float(s(e)), 4) for e in (0, 1, 2)])
        [0.2, 0.1, 0.0667]
    """
    _check.flag("inverse_time_decay", "staircase", staircase)
    fn = "inverse_time_decay"
    _check.hyperparameter(fn, "init_value", init_value)
    _check.hyperparameter(fn, "decay_rate", decay_rate, low=0.0, low_open=True)
    steps = _steps(fn, "transition_steps", transition_steps)

    def inverse_time_decay(p, step):
        return _f32(p["init_value"]) / (1 + _f32(p["decay_rate"]) * _progress(step, 0, steps, staircase))

    return ParametricSchedule(inverse_time_decay, {"init_value": init_value, "decay_rate": decay_rate})


def inverse_sqrt_decay(init_value, k=1.0, transition_steps: int = 1) -> ParametricSchedule:
    r"""The notes' ``k / sqrt(epoch) * a0``, with ``epoch = t / transition_steps``.

    ``1 / sqrt(0)`` is infinite, so epochs below 1 take the value at epoch 1: the
    schedule starts at ``k * a0`` and decays from the first full epoch on. With
    ``transition_steps=1`` it is ``k / sqrt(t) * a0`` per step.

    Example:
        >>> import optfn
        >>> s = optfn.inverse_sqrt_decay(1.0, k=0.5)
        >>> print([float(s(t)) for t in (0, 1, 4)])
        [0.5, 0.5, 0.25]
    """
    fn = "inverse_sqrt_decay"
    _check.hyperparameter(fn, "init_value", init_value)
    _check.hyperparameter(fn, "k", k, low=0.0, low_open=True)
    steps = _steps(fn, "transition_steps", transition_steps)

    def inverse_sqrt_decay(p, step):
        return _f32(p["k"]) * _f32(p["init_value"]) / jnp.sqrt(jnp.maximum(_progress(step, 0, steps), 1))

    return ParametricSchedule(inverse_sqrt_decay, {"init_value": init_value, "k": k})


def piecewise_constant(init_value, boundaries_and_scales: Optional[Mapping[int, float]] = None) -> ParametricSchedule:
    r"""A different rate per stage: from step ``b_i`` on, the value is multiplied by ``s_i``.

    ``v(t) = a0 * prod_{i: b_i <= t} s_i``. Boundaries are ascending non-negative ints.

    Example:
        >>> import optfn
        >>> s = optfn.piecewise_constant(1.0, {10: 0.1, 20: 0.5})
        >>> print([round(float(s(t)), 4) for t in (0, 10, 25)])
        [1.0, 0.1, 0.05]
    """
    fn = "piecewise_constant"
    _check.hyperparameter(fn, "init_value", init_value)
    boundaries_and_scales = {} if boundaries_and_scales is None else boundaries_and_scales  # None: constant
    bounds = [_steps(fn, "boundary", b, positive=False) for b in boundaries_and_scales]
    if bounds != sorted(bounds):
        raise ValueError(f"{fn}: boundaries must be in ascending order, got {bounds}; list the stages in order.")
    scales = tuple(boundaries_and_scales.values())
    for s in scales:
        _check.hyperparameter(fn, "scale", s)

    def piecewise_constant(p, step):
        value = _f32(p["init_value"])
        for b, s in zip(bounds, p["scales"]):
            value = jnp.where(_f32(step) >= b, value * _f32(s), value)
        return value

    return ParametricSchedule(piecewise_constant, {"init_value": init_value, "scales": scales})


def cosine_decay(init_value, decay_steps: int, alpha=0.0, exponent=1.0) -> ParametricSchedule:
    r"""``v(t) = a0 * ((1 - alpha) * c(t) ** exponent + alpha)``, ``c = (1 + cos(pi * min(t, T) / T)) / 2``.

    Example:
        >>> import optfn
        >>> s = optfn.cosine_decay(1.0, decay_steps=10)
        >>> print([round(float(s(t)), 4) for t in (0, 5, 10, 20)])
        [1.0, 0.5, 0.0, 0.0]
    """
    fn = "cosine_decay"
    _check.hyperparameter(fn, "init_value", init_value)
    _check.hyperparameter(fn, "alpha", alpha, low=0.0, high=1.0,
                          hint="alpha is the final value as a fraction of init_value; above 1 the schedule rises.")
    _check.hyperparameter(fn, "exponent", exponent)
    steps = _steps(fn, "decay_steps", decay_steps)

    def cosine_decay(p, step):
        c = 0.5 * (1 + jnp.cos(jnp.pi * jnp.minimum(_progress(step, 0, steps), 1)))
        alpha = _f32(p["alpha"])
        return _f32(p["init_value"]) * ((1 - alpha) * c ** _f32(p["exponent"]) + alpha)

    return ParametricSchedule(cosine_decay, {"init_value": init_value, "alpha": alpha, "exponent": exponent})


def warmup_cosine_decay(init_value, peak_value, warmup_steps: int, decay_steps: int, end_value=0.0, exponent=1.0) -> ParametricSchedule:
    r"""Linear warm-up from ``init_value`` to ``peak_value``, then cosine decay to ``end_value``.

    As in optax, ``decay_steps`` counts the warm-up too: the cosine part lasts
    ``decay_steps - warmup_steps`` steps. After it: ``end + (peak - end) * c ** exponent``.

    Example:
        >>> import optfn
        >>> s = optfn.warmup_cosine_decay(0.0, 1.0, warmup_steps=10, decay_steps=30)
        >>> print([round(float(s(t)), 4) for t in (0, 5, 10, 20, 30)])
        [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    fn = "warmup_cosine_decay"
    for name, v in (("init_value", init_value), ("peak_value", peak_value), ("end_value", end_value), ("exponent", exponent)):
        _check.hyperparameter(fn, name, v)
    warmup = _steps(fn, "warmup_steps", warmup_steps, positive=False)
    total = _steps(fn, "decay_steps", decay_steps)
    if warmup >= total:  # as in optax: no room left for the cosine part
        raise ValueError(
            f"{fn}: warmup_steps={warmup} must be below decay_steps={total}; decay_steps counts the "
            "warm-up too, so pass decay_steps > warmup_steps."
        )

    def warmup_cosine_decay(p, step):
        t = _f32(step)
        a, peak, end = _f32(p["init_value"]), _f32(p["peak_value"]), _f32(p["end_value"])
        rise = a + (peak - a) * jnp.minimum(t / max(warmup, 1), 1)
        c = 0.5 * (1 + jnp.cos(jnp.pi * jnp.minimum(_progress(step, warmup, max(total - warmup, 1)), 1)))
        fall = end + (peak - end) * c ** _f32(p["exponent"])
        return jnp.where(t < warmup, rise, fall)

    params = {"init_value": init_value, "peak_value": peak_value, "end_value": end_value, "exponent": exponent}
    return ParametricSchedule(warmup_cosine_decay, params)


def join_schedules(schedules: Sequence[Callable], boundaries: Sequence[int]) -> ParametricSchedule:
    r"""Run ``schedules[i]`` from ``boundaries[i-1]`` on, restarting its step count at 0.

    Example:
        >>> import optfn
        >>> s = optfn.join_schedules([optfn.constant(1.0), optfn.linear(0.5, 0.0, 10)], [5])
        >>> print([float(s(t)) for t in (0, 4, 5, 10)])
        [1.0, 1.0, 0.5, 0.25]
    """
    fn = "join_schedules"
    bounds = [_steps(fn, "boundary", b, positive=False) for b in boundaries]
    if len(schedules) != len(bounds) + 1:
        raise ValueError(f"{fn}: needs one boundary fewer than schedules, got {len(schedules)} schedules and {len(bounds)} boundaries.")
    if bounds != sorted(bounds):
        raise ValueError(f"{fn}: boundaries must be in ascending order, got {bounds}.")

    for i, s in enumerate(schedules):
        if not callable(s):
            raise TypeError(f"{fn}: schedules[{i}] must be a function step -> value, got {s!r}.")
    # Each part keeps its parameters, so a joined schedule's can be injected too.
    parts = tuple(_parametric(s) for s in schedules)

    def join_schedules(p, step):
        value = parts[0].value_fn(p["schedules"][0], step)
        for b, part, q in zip(bounds, parts[1:], p["schedules"][1:]):
            value = jnp.where(_f32(step) >= b, part.value_fn(q, jnp.maximum(jnp.asarray(step) - b, 0)), value)
        return value

    return ParametricSchedule(join_schedules, {"schedules": tuple(part.params for part in parts)})


def per_epoch(schedule: Callable, steps_per_epoch: int) -> ParametricSchedule:
    r"""Drive a schedule by epochs: ``step -> schedule(step // steps_per_epoch)``.

    ``steps_per_epoch`` is a Python int, or a traced int32 scalar (what
    ``sweep.Runner.steps_per_epoch(hp)`` gives where several batch sizes share a program).

    Example:
        >>> import optfn
        >>> s = optfn.per_epoch(optfn.inverse_time_decay(0.2, decay_rate=1.0), steps_per_epoch=100)
        >>> print([round(float(s(t)), 4) for t in (0, 99, 100, 250)])
        [0.2, 0.2, 0.1, 0.0667]
    """
    if isinstance(steps_per_epoch, jax.Array) and jnp.issubdtype(steps_per_epoch.dtype, jnp.integer) \
            and steps_per_epoch.ndim == 0 and isinstance(steps_per_epoch, jax.core.Tracer):
        # traced (a sweep's program shared by several batch sizes): a parameter of the schedule
        if not callable(schedule):
            raise TypeError(f"per_epoch: schedule must be a function step -> value, got {schedule!r}.")
        inner = _parametric(schedule)
        key = "steps_per_epoch"
        while key in inner.params:  # a name of its own beside the epoch schedule's parameters
            key = "_" + key

        def traced_per_epoch(p, step):
            return inner.value_fn({k: v for k, v in p.items() if k != key}, jnp.asarray(step) // p[key])

        return ParametricSchedule(traced_per_epoch, {**inner.params, key: steps_per_epoch})
    spe = _steps("per_epoch", "steps_per_epoch", steps_per_epoch)
    if not callable(schedule):
        raise TypeError(f"per_epoch: schedule must be a function step -> value, got {schedule!r}.")
    inner = _parametric(schedule)

    def per_epoch(p, step):  # the parameters are the epoch schedule's own
        return inner.value_fn(p, jnp.asarray(step) // spe)

    return ParametricSchedule(per_epoch, inner.params)
