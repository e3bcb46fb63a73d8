"""Hyperparameters kept in the optimizer state, to read, log and change between steps.

``inject_hyperparams(factory)(...)`` builds the optimizer ``factory(...)`` but keeps its
numeric hyperparameters as arrays in the state, and rebuilds the optimizer from them at
every update. A jitted training step therefore compiles once, and a new learning rate
is a new value in the state, not a new program. ``get_hyperparams`` and
``set_hyperparams`` read and change them anywhere in a chain's state, under ``jit``, and
on a ``vmap``-stacked state with one value per trial.
"""

import functools
import inspect
import numbers
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import _check
from ._base import GradientTransformation
from ._extra_args import takes_extra_args
from ._numerics import safe_increment, zero_count
from ._parametric_schedule import ParametricSchedule


class InjectHyperparamsState(NamedTuple):
    """The state of an optimizer built by ``inject_hyperparams``.

    Attributes:
        count: int32 number of updates so far (saturating); schedules are evaluated at it.
        hyperparams: ``name -> array`` for every hyperparameter, as in optax: a constant
            (settable), or for a scheduled one the value its schedule gave the latest
            update (at init, the value the first update will use; read-only, it follows
            the schedule).
        schedule_params: ``name -> params`` of each scheduled hyperparameter (the
            parameters of a ``ParametricSchedule``, settable; ``{}`` for a plain function).
        inner_state: the state of the optimizer itself.
        check: the factory's checks, which ``set_hyperparams`` applies to new concrete
            values (no array leaves).
    """

    count: jax.Array
    hyperparams: dict
    schedule_params: dict
    inner_state: Any
    check: Any = None


@jax.tree_util.register_pytree_node_class
class _Checker:
    """The factory's value checks, carried in the state as structure (no leaves), so
    ``set_hyperparams`` applies the constructor's rules to concrete values."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, changed: dict) -> None:
        self.fn(changed)

    def __eq__(self, other):
        return isinstance(other, _Checker)  # any two checkers: state structures compare by data

    def __hash__(self):
        return hash(_Checker)

    def tree_flatten(self):
        # itself as the static part: any two checkers compare equal, so states of two
        # builds of one optimizer have one tree structure and one compiled step
        return (), self

    @classmethod
    def tree_unflatten(cls, checker, children):
        return checker


_NUMBERS = (numbers.Number, np.ndarray, np.generic, jax.Array)


def _is_number(x) -> bool:
    return isinstance(x, _NUMBERS) and not isinstance(x, (bool, np.bool_))


def _is_numeric_tree(x) -> bool:
    leaves = jax.tree.leaves(x)
    return bool(leaves) and all(_is_number(v) for v in leaves) and not isinstance(x, (str, bytes))


def _is_step_count(value, default) -> bool:
    # A Python int given where the factory's own default is an int is a count or a
    # size (optax's sync_period, adafactor's min_dim_size_to_factor): keep it static.
    def is_int(v):
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)

    return is_int(value) and is_int(default)


_RANDOM = ("key", "rng", "seed")  # names of random state: never turned into float32


def _is_key(value) -> bool:
    dtype = getattr(value, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _kind(name: str, value, default, *, explicit: bool) -> str:
    """How one argument is handled: "value", "schedule", "function" or "static"."""
    if _is_key(value) or (name in _RANDOM and not isinstance(value, float)):
        return "static"  # PRNG keys and integer seeds keep their own type
    if isinstance(value, ParametricSchedule):
        return "schedule"
    if callable(value):
        # Only a learning rate (or a name the caller lists) is a schedule; any other
        # callable, such as a weight-decay mask, is passed to the factory untouched.
        return "function" if explicit or name == "learning_rate" else "static"
    if _is_numeric_tree(value) and (explicit or not _is_step_count(value, default)):
        return "value"
    if explicit:
        raise TypeError(
            f"inject_hyperparams: {name} is listed in hyperparams but its value {value!r} "
            "is neither a number, an array, a tree of them, nor a schedule."
        )
    return "static"


def _as_dtype(tree, dtype):
    return jax.tree.map(lambda v: jnp.asarray(v).astype(dtype), tree)


def inject_hyperparams(
    factory: Callable[..., GradientTransformation],
    static_args: Sequence[str] = (),
    hyperparam_dtype: Any = None,
    *,
    hyperparams: Optional[Sequence[str]] = None,
) -> Callable[..., GradientTransformation]:
    """Wrap an optimizer factory so its hyperparameters live in the optimizer state.

    ``inject_hyperparams(optfn.adamw)(learning_rate=1e-3, weight_decay=1e-4)`` behaves
    like ``optfn.adamw(1e-3, weight_decay=1e-4)``, with results equal to float32
    rounding, but ``learning_rate``, ``b1``, ``b2``, ``eps``, ``eps_root`` and
    ``weight_decay`` are arrays in its state (see ``get_hyperparams`` and
    ``set_hyperparams``).

    Which arguments are stored (unless ``hyperparams`` lists them):

    * numbers, arrays and trees of them, except a Python int given where the factory's
      default is also an int (a step count or a size);
    * an optfn schedule (any ``ParametricSchedule``): its parameters are stored, so the
      peak of a warm-up cosine can be changed mid-training, and its current value is
      readable as the hyperparameter itself;
    * a plain function given as ``learning_rate``: a schedule whose current value is
      readable (it has no parameters to change).

    Everything else (bools, ``None``, dtypes, PRNG keys, an argument named ``key``,
    ``rng`` or ``seed``, and callables such as a weight-decay ``mask``) is passed to the
    factory as it is, so a mask is never mistaken for a schedule and a key stays a key.
    ``set_hyperparams`` checks new concrete values with the factory's own rules. Stored values are ``dtype`` (float32) whatever the params' dtype, so
    ``b2=0.999`` stays 0.999 next to bfloat16 params.

    Args:
        factory: a function returning a ``GradientTransformation``, e.g. ``optfn.adam``
            or ``optax.adam``.
        static_args: names passed to the factory as they are, never stored (as in optax).
        hyperparam_dtype: the dtype of the stored values; ``None`` means float32 (optax's
            ``None`` means the params' dtype, which turns ``b2=0.999`` into 1.0 in bf16).
        hyperparams: the names to store, instead of the rule above.

    Returns:
        A function with ``factory``'s arguments that returns a
        ``GradientTransformation`` whose state is an ``InjectHyperparamsState``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.inject_hyperparams(optfn.sgd)(learning_rate=0.1)
        >>> state = opt.init(jnp.zeros(2))
        >>> state = optfn.set_hyperparams(state, learning_rate=0.01)
        >>> updates, state = opt.update(jnp.ones(2), state)
        >>> print(updates, optfn.get_hyperparams(state)["learning_rate"])
        [-0.01 -0.01] 0.01
    """
    name = getattr(factory, "__qualname__", repr(factory))
    fn = f"inject_hyperparams({name})"
    if not callable(factory):
        raise TypeError(f"inject_hyperparams: factory must be a function returning an optimizer, got {factory!r}.")
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: cannot read the factory's signature; wrap it in a def with named arguments.") from None
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in signature.parameters.values()):
        raise TypeError(f"{fn}: factories taking *args are not supported; give the hyperparameters by name.")
    listed = None if hyperparams is None else tuple(hyperparams)
    if isinstance(static_args, str):
        static_args = (static_args,)
    keep = tuple(static_args)
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    for what, names in (("hyperparams", listed or ()), ("static_args", keep)):
        unknown = [h for h in names if h not in signature.parameters]
        if unknown and not accepts_any:  # a wrong name is a wrong value: ValueError, as in optax
            raise ValueError(f"{fn}: {what} {unknown} are not arguments of {name}; it takes {list(signature.parameters)}.")
    _check.dtype_arg(fn, "hyperparam_dtype", hyperparam_dtype)  # a float dtype, named if wrong
    dtype = jnp.dtype(jnp.float32 if hyperparam_dtype is None else hyperparam_dtype)

    @functools.wraps(factory)
    def build(*args, **kwargs) -> GradientTransformation:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{fn}: {e}") from None
        bound.apply_defaults()
        arguments = {}
        for arg, value in bound.arguments.items():
            if signature.parameters[arg].kind is inspect.Parameter.VAR_KEYWORD:
                arguments.update(value)
            else:
                arguments[arg] = value
        defaults = {k: p.default for k, p in signature.parameters.items()}

        def kind(arg, value):
            if arg in keep:
                return "static"
            if listed is None:
                return _kind(arg, value, defaults.get(arg), explicit=False)
            return _kind(arg, value, defaults.get(arg), explicit=True) if arg in listed else "static"

        kinds = {arg: kind(arg, v) for arg, v in arguments.items()}
        static = {a: v for a, v in arguments.items() if kinds[a] == "static"}
        values = {a: v for a, v in arguments.items() if kinds[a] == "value"}
        schedules = {a: v for a, v in arguments.items() if kinds[a] == "schedule"}
        functions = {a: v for a, v in arguments.items() if kinds[a] == "function"}
        at_start = {a: s(0) for a, s in schedules.items()}
        # the factory's own checks run now, on the values given (schedules at step 0)
        factory(**{**arguments, **at_start})

        def check(changed: dict) -> None:
            """The factory's checks on new concrete constants (``set_hyperparams``)."""
            concrete = {a: v for a, v in changed.items() if not isinstance(v, jax.core.Tracer)}
            if concrete:
                factory(**{**arguments, **at_start, **concrete})

        def current(count, schedule_params):
            now = {a: s.replace(schedule_params[a])(count) for a, s in schedules.items()}
            now.update({a: f(count) for a, f in functions.items()})
            return _as_dtype(now, dtype)

        def init(params):
            count = zero_count()
            schedule_params = _as_dtype({a: s.params for a, s in schedules.items()}, dtype)
            schedule_params.update({a: {} for a in functions})  # no parameters to change
            stored = _as_dtype(values, dtype)
            now = current(count, schedule_params)
            inner = factory(**static, **stored, **now)
            return InjectHyperparamsState(count, {**stored, **now}, schedule_params, inner.init(params),
                                          _Checker(check))

        def update(updates, state, params=None, **extra_args):
            _check.state_type(fn, state, InjectHyperparamsState)
            now = current(state.count, state.schedule_params)
            constants = {a: v for a, v in state.hyperparams.items() if a not in state.schedule_params}
            inner = factory(**static, **constants, **now)
            if takes_extra_args(inner):
                updates, inner_state = inner.update(updates, state.inner_state, params, **extra_args)
            else:
                updates, inner_state = inner.update(updates, state.inner_state, params)
            new_state = InjectHyperparamsState(safe_increment(state.count), {**constants, **now},
                                               state.schedule_params, inner_state, state.check)
            return updates, new_state

        return GradientTransformation(init, update)

    return build
