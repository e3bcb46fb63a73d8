"""What ``Runner.run`` checks and settles before anything trains.

Each function takes ``run``'s arguments as the user gave them and returns them checked
(or raises naming the argument); ``RunSettings`` is the record a checkpoint keeps, to
refuse resuming a sweep with other settings.
"""

import dataclasses
import inspect
import numbers
import time
from typing import Optional

from . import _checkpoint
from ._halving import SuccessiveHalving
from ._strategy import RandomSearch
from ._structure import structure_key


def positive_int(fn: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{fn}: {name} must be a positive int, got {name}={value!r}.")
    return int(value)


def given_trials(fn: str, space, trials) -> tuple:
    """``(given, n)``: the hyperparameter dicts passed as ``trials`` (``None`` when it is a
    count) and how many configurations there are."""
    if not isinstance(trials, (list, tuple)):
        return None, positive_int(fn, "trials", trials)
    given = [dict(t) for t in trials]
    for t in given:
        if set(t) != set(space.dimensions):
            raise ValueError(f"{fn}: each given trial needs exactly the space's names "
                             f"{sorted(space.dimensions)}, got {sorted(t)}.")
        for k, v in t.items():
            d = space.dimensions[k]
            if d.vmapped and (isinstance(v, bool) or not isinstance(v, numbers.Real)):
                raise TypeError(f"{fn}: {k} is a numeric dimension, so each given value must be a "
                                f"number, got {k}={v!r}.")
            if d.traced and d.dtype.kind == "i" and not isinstance(v, numbers.Integral):
                # int32 would truncate it silently
                raise TypeError(f"{fn}: {k} is a traced int dimension, so each given value must be an "
                                f"int, got {k}={v!r}.")
    return given, positive_int(fn, "trials", len(given))


def strategy_of(fn: str, strategy, halving, min_steps):
    """The strategy to run: ``strategy``, ``SuccessiveHalving(halving, min_steps)``, or random search."""
    if halving is not None:
        if strategy is not None:
            raise ValueError(f"{fn}: pass halving= or strategy=, not both (halving={halving!r}, "
                             f"strategy={strategy!r}).")
        if isinstance(halving, bool) or not isinstance(halving, int) or halving < 2:
            raise ValueError(f"{fn}: halving must be an int >= 2 (keep the best 1/eta), got halving={halving!r}.")
        return SuccessiveHalving(halving, min_steps)
    return RandomSearch() if strategy is None else strategy


def keep_of(fn: str, keep) -> Optional[int]:
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, numbers.Integral) or keep < 0):
        raise ValueError(f"{fn}: keep must be None (every trial's params) or an int >= 0, got keep={keep!r}.")
    return keep


def open_checkpoint(fn: str, checkpoint: Optional[str], resume: bool) -> tuple:
    """``(store, saved)``: the checkpoint's store and its record (``None`` when new).
    An existing checkpoint without ``resume`` is refused, and left as it is."""
    if checkpoint is None:
        return None, None
    store = _checkpoint.open_store(fn, checkpoint)
    saved = store.meta()
    if saved is not None and not resume:
        store.close()
        raise _checkpoint.CheckpointError(
            f"{fn}: {checkpoint} already holds a sweep checkpoint; pass resume=True to continue it, "
            "or choose another path (it is never overwritten)."
        )
    return store, saved


def prepare_strategy(strategy, space, samples: list, layouts: dict) -> None:
    """``strategy.prepare(space, samples)`` where it has one, with ``groups=`` (which
    configurations share a program, so PBT may copy weights across them) where it takes that."""
    prepare = getattr(strategy, "prepare", None)  # optional for a strategy of one's own
    if prepare is None:
        return
    try:
        takes = "groups" in inspect.signature(prepare).parameters
    except (TypeError, ValueError):
        takes = False
    if takes:
        prepare(space, samples, groups=[repr(layouts[structure_key(space.static(h))].key) for h in samples])
    else:
        prepare(space, samples)


def describe(strategy) -> str:
    """How checkpoints name a strategy: its repr, or its class when the repr is an address."""
    text = repr(strategy)
    return type(strategy).__qualname__ if " at 0x" in text else text


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """What a sweep was started with; a checkpoint refuses to resume under others."""

    space: str
    samples: list
    start: int
    root: list
    seeds: int
    strategy: str
    width: int
    devices: int
    steps: int
    chunk_steps: int
    batch_size: int
    goal: str
    shared_batches: bool

    def asdict(self) -> dict:
        return dataclasses.asdict(self)


def deadline(fn: str, time_budget) -> Optional[float]:
    """``time.perf_counter()`` after ``time_budget`` seconds, or ``None`` for no budget."""
    if time_budget is None:
        return None
    if isinstance(time_budget, bool) or not isinstance(time_budget, numbers.Real) or not time_budget > 0:
        raise ValueError(f"{fn}: time_budget must be a number of seconds > 0 or None, got time_budget={time_budget!r}.")
    return time.perf_counter() + float(time_budget)
