"""A configuration's values meet the optimizer's own checks before anything trains.

In the programs the values are traced, so ``optfn.adam(lr, b1=b1)`` cannot look at
them; ``check_values`` builds the optimizer once more on concrete values (given trials,
a sampled pool's extremes, a strategy's proposals) and a value it refuses is named.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optfn
import problems
from optfn import sweep
from optfn.sweep._probe import check_values

DATA = problems.tanh_data(64, noise=0.3)
SPACE = sweep.Space({"lr": sweep.log_uniform(1e-3, 0.3), "b1": sweep.one_minus_log_uniform(0.5, 0.99)})


class Factory:
    """The optimizer factory a runner holds, recording the concrete values it is built on."""

    def __init__(self):
        self.concrete = []

    def __call__(self, hp):
        if isinstance(hp["lr"], float):
            self.concrete.append(dict(hp))
        return optfn.adam(hp["lr"], b1=hp["b1"])


def test_a_given_value_the_optimizer_refuses_is_named_before_anything_compiles():
    runner = problems.tanh_runner(DATA)
    with pytest.raises(ValueError, match=r"Runner.run: configuration 1 \(b1=0.5, lr=-0.1\) is refused by the optimizer: "
                                         r"scale_by_learning_rate: learning_rate must lie in \[0, inf\), got "
                                         r"learning_rate=-0.1\."):
        runner.run(SPACE, [{"lr": 0.1, "b1": 0.9}, {"lr": -0.1, "b1": 0.5}])
    assert runner.compile_counts == {"init": 0, "chunk": 0}
    # a value float32 rounds onto the bound: the trial would train with b1 = 1.0
    with pytest.raises(ValueError, match=r"configuration 7 \(b1=0.99999999, lr=0.1\) .* got b1=1.0\. .*\(float32, "
                                         r"which the trial trains in, rounds it there\)"):
        runner.plan(SPACE, [{"lr": 0.1, "b1": 0.99999999}], start=7)


def test_a_sampled_range_the_optimizer_refuses_is_found_at_its_extremes():
    factory = Factory()
    runner = problems.tanh_runner(DATA, optimizer=factory)
    space = sweep.Space({"lr": sweep.log_uniform(1e-3, 0.3), "b1": sweep.uniform(0.5, 1.2)})
    with pytest.raises(ValueError, match=r"Runner.plan: configuration \d+ \(.*\) is refused by the optimizer: "
                                         r"scale_by_adam: b1 must lie in \[0, 1\)"):
        runner.plan(space, 40, seed=0)
    pool = space.sample(40, 0)
    extremes = {int(i) for name in ("lr", "b1") for i in (np.argmin([h[name] for h in pool]),
                                                          np.argmax([h[name] for h in pool]))}
    first = min(i for i in extremes if pool[i]["b1"] >= 1)  # they are built in order
    with pytest.raises(ValueError, match=rf"Runner.run: configuration {first} \(b1={pool[first]['b1']!r}, "):
        runner.run(space, pool)
    # the harness: in range, it built exactly the configurations holding each extreme
    factory.concrete.clear()
    pool = SPACE.sample(40, 0)
    check_values("f", runner, SPACE, pool)
    extremes = {i for name in ("lr", "b1") for i in (np.argmin([h[name] for h in pool]),
                                                     np.argmax([h[name] for h in pool]))}
    assert sorted(map(repr, factory.concrete)) == sorted(repr({k: float(np.float32(v)) for k, v in pool[i].items()})
                                                         for i in extremes)


def test_each_structure_is_checked_on_its_own_extremes():
    # a structural choice of optimizer: sgd ignores b1, so the largest b1 overall (an sgd
    # configuration) does not tell whether adam's are valid
    def factory(hp):
        return optfn.sgd(hp["lr"]) if hp["opt"] == "sgd" else optfn.adam(hp["lr"], b1=hp["b1"])

    space = sweep.Space({"lr": sweep.log_uniform(1e-3, 0.3), "b1": sweep.uniform(0.5, 1.2),
                         "opt": sweep.choice("sgd", "adam")})
    configs = [{"lr": 0.1, "b1": 1.15, "opt": "sgd"}, {"lr": 0.1, "b1": 1.1, "opt": "adam"},
               {"lr": 0.1, "b1": 0.6, "opt": "adam"}, {"lr": 0.2, "b1": 0.5, "opt": "sgd"}]
    with pytest.raises(ValueError, match=r"configuration 1 \(b1=1.1, lr=0.1, opt='adam'\)"):
        check_values("f", problems.tanh_runner(DATA, optimizer=factory), space, configs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-0.5, 1.0), st.floats(0.0, 1.5)), min_size=1, max_size=12))
def test_the_extremes_refuse_exactly_when_some_configuration_would_be_refused(values):
    # the claim that makes building a few enough: every check is an interval per argument
    runner = problems.tanh_runner(DATA)
    space = sweep.Space({"lr": sweep.uniform(-0.5, 1.0), "b1": sweep.uniform(0.0, 1.5)})
    configs = [{"lr": a, "b1": b} for a, b in values]

    def refused(hp):
        try:
            optfn.adam(float(np.float32(hp["lr"])), b1=float(np.float32(hp["b1"])))
        except ValueError:
            return True
        return False

    expect = any(refused(h) for h in configs)
    try:
        check_values("f", runner, space, configs)
        got = False
    except ValueError:
        got = True
    assert got == expect


def test_a_factory_written_for_traced_values_only_is_left_to_the_traced_checks():
    def factory(hp):  # .astype: only an array has it, so a concrete build fails otherwise
        return optfn.adam(hp["lr"].astype("float32"), b1=hp["b1"])

    check_values("f", problems.tanh_runner(DATA, optimizer=factory), SPACE, [{"lr": -1.0, "b1": 0.9}])


def test_a_proposal_the_optimizer_refuses_is_named_with_its_id():
    class Overshoot(sweep.Strategy):
        def decide(self, state, running):
            return sweep.Plan(start=({"lr": 0.1, "b1": 1.5},)) if state.step == state.chunk_steps else sweep.Plan()

    with pytest.raises(ValueError, match=r"Runner: a strategy's Plan.start: configuration 2 \(b1=1.5, lr=0.1\) is "
                                         r"refused by the optimizer: scale_by_adam: b1 must lie in \[0, 1\)"):
        problems.tanh_runner(DATA, steps=40, chunk_steps=20).run(SPACE, 2, seed=0, strategy=Overshoot())
