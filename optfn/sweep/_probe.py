"""Checks of a runner's functions before anything compiles: one ``eval_shape`` probe."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from ._structure import _Reads


def check(runner, space, hp_values: dict) -> None:
    """Trace the runner's functions with ``eval_shape`` on one sampled configuration: a
    mistake (a loss that is not a scalar, an optimizer factory not called, ...) raises
    here, before anything compiles; a sampled name nothing reads gives a warning."""
    if "batch_size" in space.dimensions and runner.feed.stream is not None:
        raise ValueError("Runner: data is a stream of batches, whose size the stream sets, so batch_size "
                         "cannot be a hyperparameter of this sweep; remove it from the space, or pass the "
                         "data as arrays.")
    if "batch_size" in space.dimensions and space.dimensions["batch_size"].vmapped:
        d = space.dimensions["batch_size"]
        raise ValueError(
            f"Runner: batch_size is a shape, so it must be structural (int_uniform, choice or a fixed "
            f"int without traced=True), got {d.kind} sampling{' with traced=True' if d.traced else ''}; "
            "e.g. sweep.choice(32, 64, 128)."
        )
    static = space.static(hp_values)
    numeric = {k: jnp.asarray(v, space.dimensions[k].dtype) for k, v in hp_values.items()
               if space.dimensions[k].vmapped}
    reads = set()

    def probe(key, data, numeric):  # numeric traced, as in the programs: a shape made of one fails here
        hp = _Reads({**static, **numeric}, reads)  # what is read, to warn about what is not
        out = runner.init(key, hp)
        if runner.has_state and not (isinstance(out, tuple) and len(out) == 2):
            raise ValueError(f"Runner: with has_state=True, init must return (params, model_state), got "
                             f"{type(out).__name__}; return the batch-norm state too, or pass has_state=False.")
        params, mstate = out if runner.has_state else (out, None)
        opt = runner.optimizer(hp)
        if not (hasattr(opt, "init") and hasattr(opt, "update")):
            raise TypeError(f"Runner: optimizer(hp) must return a GradientTransformation, got {opt!r}; "
                            "call the factory, e.g. lambda hp: optfn.adam(hp['learning_rate']).")
        opt.init(params)
        zero = jnp.int32(0)
        batch = runner.feed.batch(key, zero, static, data, runner.feed.plan(key, zero, 1, static), zero)
        value = runner.model.loss(params, mstate, batch, hp, key, zero)[0]
        metric = None
        if runner.evaluate is not None:
            metric = runner.model.evaluate(params, mstate, runner.eval_data, hp, key)
        return value, metric

    try:
        shape, metric = jax.eval_shape(probe, jax.random.PRNGKey(0), runner.feed.spec(), numeric)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerIntegerConversionError,
            jax.errors.TracerBoolConversionError, TypeError) as e:
        traced = [f"{k} (traced=True)" if space.dimensions[k].traced else k for k in space.traced_names]
        if not traced or "Tracer" not in str(e):
            raise
        raise ValueError(
            f"Runner: init, loss, evaluate or the optimizer used a traced value where a concrete one is needed "
            f"(a shape, a Python if or range). These hyperparameters reach them as traced arrays: "
            f"{', '.join(traced)}. Build the model at the largest value (space[name].high) and select with "
            "jnp.where; or make the dimension structural: drop traced=True from an int or a choice, or turn a "
            "float range into a choice (one program per value). JAX said: "
            f"{str(e).splitlines()[0]}") from e
    if getattr(shape, "shape", None) != ():
        raise ValueError(
            f"Runner: loss must return a scalar, got {shape}. Reduce it, e.g. with jnp.mean "
            "over the batch."
        )
    if runner.evaluate is not None:
        _check_metric(runner, metric)
    unused = sorted(set(hp_values) - reads - {"batch_size"})
    if unused:
        warnings.warn(
            f"Runner: hyperparameters {unused} are sampled but never read by init, optimizer "
            "or the batch; check their names (a typo trains every trial with the default).",
            UserWarning, stacklevel=3,
        )


def _check_metric(runner, metric) -> None:
    """``evaluate`` returns a scalar, or a dict of scalars one of which ``Runner(metric=)`` names."""
    if isinstance(metric, dict):
        bad = {k: v for k, v in metric.items() if getattr(v, "shape", None) != ()}
        if bad or not metric:
            raise ValueError(f"Runner: evaluate returned a dict whose entries must be scalars, got {bad or metric}. "
                             "Reduce each, e.g. with jnp.mean over the evaluation data.")
        if runner.metric is None and len(metric) == 1:
            runner.metric = next(iter(metric))
        if runner.metric not in metric:
            raise ValueError(f"Runner: evaluate returns the metrics {sorted(metric)}; metric= names the one trials "
                             f"are ranked by, got metric={runner.metric!r}. Pass e.g. metric={sorted(metric)[0]!r}.")
        return
    if getattr(metric, "shape", None) != ():
        raise ValueError(f"Runner: evaluate must return a scalar (the metric trials are ranked by) or a dict of "
                         f"scalars, got {metric}. Reduce it, e.g. with jnp.mean over the evaluation data.")
    if runner.metric is not None:
        raise ValueError(f"Runner: metric={runner.metric!r} names an entry of a dict evaluate returns, but evaluate "
                         "returns one value; return a dict (e.g. {'loss': ..., 'accuracy': ...}) or drop metric=.")


def check_values(fn: str, runner, space, configs: list, ids=None) -> None:
    """Build ``runner.optimizer`` on concrete values, so the optimizer's own checks of a
    value (``b1`` in ``[0, 1)``, a learning rate ``>= 0``) refuse a bad configuration
    before anything trains, as they refuse a bad constant; in the programs the values
    are traced and those checks cannot look at them.

    Of each structure's configurations it builds those holding a traced dimension's
    smallest or largest value: every check optfn makes is an interval per argument, so
    they pass for all exactly when they pass for these. ``ids`` name the configurations
    in the error (default 0, 1, ...). A factory that cannot take concrete values (any
    error but ``ValueError``) is left to the traced checks the probe made.
    """
    ids = list(range(len(configs))) if ids is None else list(ids)
    names = space.traced_names
    groups = {}
    for i, hp in enumerate(configs):
        groups.setdefault(repr(sorted(space.static(hp).items())), []).append(i)
    chosen = set()
    for members in groups.values():
        for name in names:
            values = [configs[i][name] for i in members]
            chosen.update((members[int(np.argmin(values))], members[int(np.argmax(values))]))
    for i in sorted(chosen) if names else []:
        hp = configs[i]
        concrete = {k: np.asarray(v, space.dimensions[k].dtype).item() if k in names else v for k, v in hp.items()}
        try:  # the float32 value the trial trains with (0.99999999 is 1.0 there)
            runner.optimizer(concrete)
        except ValueError as e:
            why = str(e)
            try:  # the message with the value as given, where that is refused too
                runner.optimizer(dict(hp))
                why += " (float32, which the trial trains in, rounds it there)"
            except ValueError as given:
                why = str(given)
            except Exception:  # noqa: BLE001
                pass
            raise ValueError(f"{fn}: configuration {ids[i]} ({_shown(hp)}) is refused by the optimizer: {why} "
                             "Narrow the space (or the given values) to what the optimizer takes.") from None
        except Exception:  # noqa: BLE001 - a factory written for traced values only
            return


def _shown(hp: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in sorted(hp.items()))
