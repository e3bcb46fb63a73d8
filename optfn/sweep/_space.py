"""Search spaces: each dimension maps the unit interval onto values on its own scale.

A dimension is sampled through a unit coordinate ``u`` in ``[0, 1]``: ``log_uniform``
is uniform in ``log10``, ``one_minus_log_uniform`` in ``log10(1 - beta)``, ``uniform``
in the value itself. Zooming works in the same coordinates, so a learning rate narrows
by decades. Numeric dimensions become traced per-trial arrays; ``int_uniform`` and
``choice`` are structural (they change shapes) and group trials into compiled programs
(values that only change array sizes share one padded program, ``_buckets.py``), unless
built with ``traced=True``: then the value is a traced
per-trial array too (int32, or float32 for a choice among floats), so a model built at
the largest depth can skip the layers a trial does not use, in one program for every
value.
"""

import dataclasses
import functools
import itertools
import math
import numbers
from typing import Any, Mapping, Sequence

import jax
import numpy as np


def _real(fn: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{fn}: {name} must be a finite number, got {name}={value!r}.")
    return float(value)


def _ordered(fn: str, low: float, high: float, hint: str = "") -> None:
    if not low < high:
        raise ValueError(f"{fn}: the range is empty or inverted, low={low!r} >= high={high!r}; pass low < high.{hint}")


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter. ``kind`` is its scale; ``numeric`` ones are vmapped."""

    kind: str  # "log", "one_minus_log", "linear", "int", "choice", "fixed"
    low: Any = None
    high: Any = None
    options: tuple = ()
    traced: bool = False  # an int or a choice handed to the trial as a traced array

    @property
    def numeric(self) -> bool:
        """On a continuous scale (zoomed, explored and plotted in its unit coordinates)."""
        return self.kind in ("log", "one_minus_log", "linear")

    @property
    def vmapped(self) -> bool:
        """A per-trial array in the programs (not part of the structure)."""
        return self.numeric or self.traced

    @property
    def dtype(self):
        """The dtype of the traced value: float32, or int32 for a traced int (or int choice)."""
        if self.kind == "int" or (self.kind == "choice" and all(isinstance(o, numbers.Integral) for o in self.options)):
            return np.dtype(np.int32)
        return np.dtype(np.float32)

    def to_unit(self, value) -> float:
        """The unit coordinate of a value (numeric and int dimensions)."""
        if self.kind == "log":
            return (math.log10(value) - math.log10(self.low)) / (math.log10(self.high) - math.log10(self.low))
        if self.kind == "one_minus_log":  # u = 0 at low, 1 at high, even per decade of 1 - beta
            a, b = math.log10(1 - self.low), math.log10(1 - self.high)
            return (math.log10(1 - value) - a) / (b - a)
        return (value - self.low) / (self.high - self.low)

    def from_unit(self, u):
        """Values for unit coordinates ``u`` (a NumPy array)."""
        u = np.asarray(u, np.float64)
        if self.kind == "log":
            return 10 ** (math.log10(self.low) + u * (math.log10(self.high) - math.log10(self.low)))
        if self.kind == "one_minus_log":
            a, b = math.log10(1 - self.low), math.log10(1 - self.high)
            return 1 - 10 ** (a + u * (b - a))
        if self.kind == "linear":
            return self.low + u * (self.high - self.low)
        if self.kind == "int":
            return np.minimum(self.low + np.floor(u * (self.high - self.low + 1)), self.high).astype(np.int64)
        if self.kind == "choice":
            return np.minimum(np.floor(u * len(self.options)), len(self.options) - 1).astype(np.int64)
        return np.zeros_like(u)

    def value(self, raw):
        """The Python value a trial sees, from ``from_unit``'s output."""
        if self.kind == "choice":
            return self.options[int(raw)]
        if self.kind == "fixed":
            return self.low
        return int(raw) if self.kind == "int" else float(raw)


def log_uniform(low, high) -> Dimension:
    """``10 ** U(log10 low, log10 high)``: even per decade (the learning rate's scale).

    Example:
        >>> from optfn import sweep
        >>> d = sweep.log_uniform(1e-4, 1.0)
        >>> print(d.from_unit([0.0, 0.5, 1.0]))
        [0.0001 0.01   1.    ]
    """
    low, high = _real("log_uniform", "low", low), _real("log_uniform", "high", high)
    if low <= 0:
        raise ValueError(f"log_uniform: low must be > 0 (its log is taken), got low={low!r}; e.g. log_uniform(1e-5, 1e-1).")
    _ordered("log_uniform", low, high)
    return Dimension("log", low, high)


def one_minus_log_uniform(low, high) -> Dimension:
    """``beta = 1 - 10 ** U(log10(1 - high), log10(1 - low))``, for momentum-like betas.

    ``one_minus_log_uniform(0.9, 0.999)`` gives as many values in 0.9..0.99 as in
    0.99..0.999, where a uniform sample would put 90% of them below 0.99.

    Example:
        >>> from optfn import sweep
        >>> print(sweep.one_minus_log_uniform(0.9, 0.999).from_unit([0.0, 0.5, 1.0]))
        [0.9   0.99  0.999]
    """
    fn = "one_minus_log_uniform"
    low, high = _real(fn, "low", low), _real(fn, "high", high)
    for name, v in (("low", low), ("high", high)):
        if not 0 < v < 1:
            raise ValueError(f"{fn}: {name} must lie in (0, 1), got {name}={v!r}; e.g. one_minus_log_uniform(0.9, 0.999).")
    _ordered(fn, low, high)
    return Dimension("one_minus_log", low, high)


def uniform(low, high) -> Dimension:
    """``U(low, high)`` on a linear scale.

    Example:
        >>> from optfn import sweep
        >>> print(sweep.uniform(0.0, 0.5).from_unit([0.0, 0.5, 1.0]))
        [0.   0.25 0.5 ]
    """
    low, high = _real("uniform", "low", low), _real("uniform", "high", high)
    _ordered("uniform", low, high)
    return Dimension("linear", low, high)


def int_uniform(low: int, high: int, *, traced: bool = False) -> Dimension:
    """An integer in ``[low, high]`` (both included), e.g. hidden units or layers.

    Structural by default: a Python int, so it can be a shape. Values that only change
    array sizes (a width) share programs padded to the largest (``Runner(padding=)``);
    others get one set of programs per distinct value. With ``traced=True`` the trial gets it as a traced int32 instead,
    every value in one program: build the model at ``high`` and use the value with
    ``jnp.where``, e.g. ``h = jnp.where(i < hp["layers"], layer(h), h)`` for a depth.

    Example:
        >>> from optfn import sweep
        >>> print(sweep.int_uniform(1, 3).from_unit([0.0, 0.5, 0.99]))
        [1 2 3]
        >>> layers = sweep.int_uniform(2, 4, traced=True)  # build 4 layers, skip the unused
        >>> layers.high, layers.dtype
        (4, dtype('int32'))
    """
    for name, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise ValueError(f"int_uniform: {name} must be an int, got {name}={v!r}.")
    if low > high:
        raise ValueError(f"int_uniform: the range is inverted, low={low} > high={high}.")
    if not isinstance(traced, bool):
        raise TypeError(f"int_uniform: traced must be True or False, got traced={traced!r}.")
    return Dimension("int", int(low), int(high), traced=traced)


def choice(*options, traced: bool = False) -> Dimension:
    """One of ``options`` (any values, e.g. ``choice(32, 64, 128)``).

    Structural by default (one set of programs per option, or shared and padded where
    the options are widths or batch sizes: ``Runner(padding=)``). With ``traced=True`` the
    options must be numbers and the trial gets its value as a traced array (int32 for
    ints, float32 otherwise), every option in one program.

    Example:
        >>> from optfn import sweep
        >>> d = sweep.choice(32, 64, 128)
        >>> print(*(d.value(i) for i in d.from_unit([0.1, 0.5, 0.9])))
        32 64 128
        >>> sweep.choice(0.0, 0.1, 0.3, traced=True).dtype  # a traced float32 in one program
        dtype('float32')
    """
    if len(options) == 1 and isinstance(options[0], (list, tuple)):
        options = tuple(options[0])
    if not options:
        raise ValueError("choice: needs at least one option, got none.")
    if not isinstance(traced, bool):
        raise TypeError(f"choice: traced must be True or False, got traced={traced!r}.")
    if traced and not all(isinstance(o, numbers.Real) and not isinstance(o, bool) for o in options):
        raise ValueError(f"choice: traced=True needs numeric options (the value becomes an array), got "
                         f"{options!r}; pass numbers, or traced=False for one program per option.")
    return Dimension("choice", options=tuple(options), traced=traced)


def fixed(value) -> Dimension:
    """A constant, passed to every trial as it is (a plain value in a ``Space`` means the same).

    Example:
        >>> from optfn import sweep
        >>> sweep.Space({"b2": sweep.fixed(0.999)}).sample(2)
        [{'b2': 0.999}, {'b2': 0.999}]
    """
    return Dimension("fixed", value)


def _lhs(key, n: int, d: int) -> np.ndarray:
    """Latin hypercube: each dimension's n strata hit once, in a random order."""
    k1, k2 = jax.random.split(key)
    perms = jax.vmap(lambda k: jax.random.permutation(k, n))(jax.random.split(k1, d)).T
    jitter = jax.random.uniform(k2, (n, d))
    return (np.asarray(perms, np.float64) + np.asarray(jitter, np.float64)) / n


def root_key(fn: str, seed):
    """A PRNG key from an int seed (Python or NumPy) or a key; anything else is refused."""
    if isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_)):
        return jax.random.PRNGKey(int(seed))
    dtype = getattr(seed, "dtype", None)
    if dtype is not None and (jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)
                              or (dtype == np.uint32 and np.shape(seed) == (2,))):
        return seed
    raise TypeError(f"{fn}: seed must be an int or a PRNG key (jax.random.key(0)), got seed={seed!r}.")


@functools.partial(jax.jit, static_argnums=(2,))
def _uniform_units(root, ids, dims: int):
    return jax.vmap(lambda i: jax.random.uniform(jax.random.fold_in(root, i), (dims,)))(ids)


class Space:
    """Named dimensions to sample trials from.

    Args:
        dimensions: ``name -> Dimension`` (from ``log_uniform``, ``choice``, ...); a plain
            value is ``fixed(value)``.

    Example:
        >>> from optfn import sweep
        >>> space = sweep.Space({"learning_rate": sweep.log_uniform(1e-4, 1.0),
        ...                      "b1": sweep.one_minus_log_uniform(0.9, 0.999),
        ...                      "hidden": sweep.choice(32, 64, 128)})
        >>> trials = space.sample(4, seed=0)
        >>> sorted(trials[0])
        ['b1', 'hidden', 'learning_rate']
    """

    def __init__(self, dimensions: Mapping[str, Any]):
        if not dimensions:
            raise ValueError("Space: needs at least one dimension, got none.")
        for k, v in dimensions.items():
            if isinstance(v, (list, tuple, set)):
                raise TypeError(f"Space: dimension {k!r} is a {type(v).__name__} {v!r}; for a choice among "
                                f"values pass sweep.choice(*{list(v)!r}), for a fixed value pass the value.")
        self.dimensions = {str(k): v if isinstance(v, Dimension) else fixed(v) for k, v in dimensions.items()}

    def __repr__(self) -> str:
        return f"Space({self.dimensions!r})"

    def __getitem__(self, name: str) -> Dimension:
        """The dimension ``name``: ``space["layers"].high`` is how many layers to build."""
        return self.dimensions[name]

    def units(self, n: int, seed=0, method: str = "random", start: int = 0) -> np.ndarray:
        """``(n, dims)`` unit coordinates for trials ``start .. start + n - 1``."""
        names = list(self.dimensions)
        root = root_key("Space.sample", seed)
        if method == "random":
            # Each trial's values come from fold_in(root, trial_id) alone, so they do not
            # depend on how many trials run or how they are chunked or sharded.
            return np.asarray(_uniform_units(root, np.arange(start, start + n, dtype=np.uint32), len(names)), np.float64)
        if method == "lhs":
            return _lhs(root, n, len(names))
        if method == "sobol":
            try:
                from scipy.stats import qmc
            except ImportError:
                raise ImportError("Space.sample(method='sobol') needs scipy; pip install scipy, or use method='lhs'.") from None
            return qmc.Sobol(len(names), scramble=True, seed=int(jax.random.randint(root, (), 0, 2**31 - 1))).random(n)
        if method == "grid":
            per = max(1, round(n ** (1 / len(names))))
            if per ** len(names) != n:
                raise ValueError(
                    f"Space.sample: a grid over {len(names)} dimensions needs n = k**{len(names)} trials (every "
                    f"level of every dimension the same number of times), got n={n}; pass n={per ** len(names)} "
                    f"or {(per + 1) ** len(names)}, or method='random'.")
            levels = (np.arange(per) + 0.5) / per
            grid = np.array(list(itertools.product(levels, repeat=len(names))))
            return grid[:n]
        raise ValueError(f"Space.sample: method must be 'random', 'lhs', 'sobol' or 'grid', got method={method!r}.")

    def sample(self, n: int, seed=0, method: str = "random", start: int = 0) -> list:
        """``n`` trials as dicts of Python values (random by default, as the notes advise).

        Args:
            n: number of trials, ``> 0``.
            seed: an int or a PRNG key.
            method: ``"random"``, ``"lhs"`` (Latin hypercube), ``"sobol"`` (needs scipy) or
                ``"grid"`` (``round(n ** (1/dims))`` levels per dimension; at most ``n`` trials).
            start: the id of the first trial (random sampling is per trial id).
        """
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"Space.sample: the number of trials must be a positive int, got n={n!r}.")
        u = self.units(n, seed, method, start)
        columns = {name: d.from_unit(u[:, j]) for j, (name, d) in enumerate(self.dimensions.items())}
        return [{name: d.value(columns[name][i]) for name, d in self.dimensions.items()} for i in range(len(u))]

    def zoom(self, result, top_k: int = 8, margin: float = 0.25) -> "Space":
        """A narrower space around the ``top_k`` best trials of ``result``.

        Each numeric dimension becomes the span of the best trials' unit coordinates
        (decades for log scales), widened by ``margin`` of that span on each side (at
        least ``margin / top_k`` of the old range) and clipped to the old bounds; ``choice``
        keeps the options the best trials used; ``int_uniform`` their span.

        Args:
            result: a ``SweepResult`` (or any object with ``top(k)`` returning trial dicts
                with a ``"hyperparams"`` entry).
            top_k: how many of the best trials to zoom around.
            margin: the widening, as a fraction of the span.
        """
        if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1:
            raise ValueError(f"Space.zoom: top_k must be a positive int, got top_k={top_k!r}.")
        if isinstance(margin, bool) or not isinstance(margin, numbers.Real) or not 0 <= margin < math.inf:
            raise ValueError(f"Space.zoom: margin must be a number >= 0 (the widening, as a fraction of the "
                             f"span), got margin={margin!r}.")
        best = [t["hyperparams"] for t in result.top(top_k)]
        if not best:
            raise ValueError("Space.zoom: the result has no finished trial to zoom around (all diverged or NaN).")
        dims = {}
        for name, d in self.dimensions.items():
            values = [h[name] for h in best]
            if d.numeric:
                u = np.array([d.to_unit(v) for v in values])
                lo, hi = u.min(), u.max()
                pad = max(margin * (hi - lo), margin / len(best))
                lo, hi = max(lo - pad, 0.0), min(hi + pad, 1.0)
                new_low, new_high = (float(v) for v in d.from_unit([lo, hi]))
                dims[name] = Dimension(d.kind, max(new_low, d.low), min(new_high, d.high))
            elif d.kind == "int":
                dims[name] = dataclasses.replace(d, low=min(values), high=max(values))
            elif d.kind == "choice":
                dims[name] = dataclasses.replace(d, options=tuple(o for o in d.options if o in values))
            else:
                dims[name] = d
        return Space(dims)

    @property
    def numeric_names(self) -> Sequence[str]:
        """The dimensions on a continuous scale (explored by PBT, plotted as schedules)."""
        return [n for n, d in self.dimensions.items() if d.numeric]

    @property
    def traced_names(self) -> Sequence[str]:
        """The dimensions that are per-trial arrays in the programs: numeric and ``traced=True``."""
        return [n for n, d in self.dimensions.items() if d.vmapped]

    def static(self, hyperparams: dict) -> dict:
        """The structural part of a trial's values: what its programs are compiled for."""
        return {k: v for k, v in hyperparams.items() if not self.dimensions[k].vmapped}
