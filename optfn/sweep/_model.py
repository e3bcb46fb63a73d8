"""Calling the user's ``loss`` and ``evaluate`` with what they ask for: ``hp`` and ``key``.

A ``loss`` or ``evaluate`` that names a parameter ``hp`` receives the trial's
hyperparameters (numeric ones traced, so a dropout rate or an L2 strength is an
ordinary dimension of a space); one that names ``key`` receives a PRNG key. The keys
are derived from the row's own key (``fold_in(fold_in(root, config_id), replica)``), so
a resumed run and every replica see the same keys as an uninterrupted one:

* ``loss`` at step ``t``: ``fold_in(fold_in(row_key, MODEL_STREAM), t)`` (step 0's key is
  also the one of the step-0 loss the divergence test compares against);
* ``evaluate``: ``fold_in(row_key, EVAL_STREAM)``, the same at every evaluation, so a
  trial's metric changes only with its params.

Both are passed by keyword; functions that name neither are called as before.
"""

import inspect
from typing import Callable, Optional

import jax

MODEL_STREAM = 2  # fold_in(row_key, 0) seeds init, 1 the batches
EVAL_STREAM = 3
_NAMES = ("hp", "key")


def _extras(fn: Callable, what: str, positional: int) -> tuple:
    """Which of ``hp`` and ``key`` ``fn`` takes; refuses a parameter the runner never fills."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin or a C extension: called as before
        return ()
    wants = tuple(n for n in _NAMES if n in sig.parameters)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return _NAMES  # **kwargs takes both
    taken = 0
    for name, p in sig.parameters.items():
        if name in _NAMES or p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            taken += 1
            if taken > positional and p.default is inspect.Parameter.empty:
                raise TypeError(
                    f"Runner: {what} takes a parameter {name!r} that the runner never gives it; {what} is "
                    f"called with {positional} positional arguments, plus hp= (the trial's hyperparameters) "
                    f"and key= (a PRNG key) to the parameters of those names. Rename {name!r} to 'key' for a "
                    f"random key, or give it a default.")
        elif p.default is inspect.Parameter.empty:  # keyword-only, not hp or key
            raise TypeError(f"Runner: {what} takes a keyword-only parameter {name!r} that the runner never "
                            f"gives it; only hp= and key= are passed. Give it a default or remove it.")
    return wants


class ModelFns:
    """``loss`` and ``evaluate`` of a runner, called with ``hp=`` and ``key=`` where they take them."""

    def __init__(self, loss: Callable, evaluate: Optional[Callable], has_state: bool):
        self._loss, self._evaluate, self.has_state = loss, evaluate, has_state
        n = 3 if has_state else 2
        self.loss_takes = _extras(loss, "loss", n)
        self.evaluate_takes = () if evaluate is None else _extras(evaluate, "evaluate", n)

    @staticmethod
    def _kwargs(takes, hp, key) -> dict:
        given = {"hp": hp, "key": key}
        return {n: given[n] for n in takes}

    def loss(self, params, mstate, batch, hp, row_key, step):
        """``(value, model_state)`` of the user's loss at ``step`` (``model_state`` is None
        without ``has_state``)."""
        kw = self._kwargs(self.loss_takes, hp, step_key(row_key, step) if "key" in self.loss_takes else None)
        if self.has_state:
            return self._loss(params, mstate, batch, **kw)
        return self._loss(params, batch, **kw), None

    def evaluate(self, params, mstate, eval_data, hp, row_key):
        kw = self._kwargs(self.evaluate_takes, hp,
                          eval_key(row_key) if "key" in self.evaluate_takes else None)
        if self.has_state:
            return self._evaluate(params, mstate, eval_data, **kw)
        return self._evaluate(params, eval_data, **kw)


def step_key(row_key, step):
    """The key ``loss`` gets at ``step`` (an int32 count of the row's previous updates)."""
    return jax.random.fold_in(jax.random.fold_in(row_key, MODEL_STREAM), step)


def eval_key(row_key):
    """The key ``evaluate`` gets, the same at every evaluation of a row."""
    return jax.random.fold_in(row_key, EVAL_STREAM)
