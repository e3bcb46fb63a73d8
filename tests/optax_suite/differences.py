"""optax tests that fail with optfn substituted, each for a deliberate, documented reason.

Keys are test ids relative to the optax package (``path::Class::test``); a key ending
in ``*`` covers every parametrisation. The README's "How it differs from optax" lists
the same differences.
"""

DIFFERENCES = {
    "schedules/_schedule_test.py::ExponentialTest::test_nonvalid_transition_steps*":
        "exponential_decay(transition_steps <= 0) raises a ValueError naming the argument; optax "
        "logs a warning and returns a constant schedule",
    "schedules/_schedule_test.py::ExponentialTest::test_nonvalid_decay_rate*":
        "exponential_decay(decay_rate=0) raises; optax logs a warning and returns a constant schedule",
    "schedules/_schedule_test.py::PolynomialTest::test_zero_steps_schedule":
        "polynomial(transition_steps <= 0) raises; optax logs a warning and returns a constant schedule",
    "schedules/_schedule_test.py::WarmupCosineDecayTest::test_zero_peak_value":
        "warmup_cosine_decay with peak_value=0 still decays to end_value; optax computes "
        "alpha = end_value / peak_value and, for a zero peak, ignores end_value",
    "schedules/_inject_test.py::InjectHyperparamsTest::test_hyperparam_default_dtype*":
        "inject_hyperparams stores hyperparameters in float32 by default; optax uses the params' "
        "dtype, in which bf16 turns b2=0.999 into 1.0",
    "schedules/_inject_test.py::InjectHyperparamsTest::test_inject_hyperparams_starts_with_step_count_zero":
        "only learning_rate (or a name listed in hyperparams=) is taken as a schedule when it is a "
        "plain function, so a callable such as a weight-decay mask is never mistaken for one; "
        "here the function is scale's step_size",
    "schedules/_inject_test.py::StatefulTest::test_inject_stateful_hyperparams":
        "optax's stateful schedules (StatefulSchedule with init/update) are not supported; "
        "optfn schedules keep their parameters as data (ParametricSchedule) instead",
    "transforms/_adding_test.py::AddingTest::test_none_argument":
        "update checks its state: add_decayed_weights(...).update(None, 0, params) passes 0 as the "
        "state and raises a TypeError naming the expected EmptyState",
    "transforms/_combining_test.py::ExtraArgsTest::test_extra_args":
        "the optimizers refuse integer params at init (a TypeError naming the leaves: their "
        "gradients are not defined); the test chains adam with params {'a': 1, 'b': 2}",
    "_src/combine_test.py::ExtraArgsTest::test_extra_args":
        "the same test in optax's older module: adam refuses the integer params {'a': 1, 'b': 2}",
    "_src/transform_test.py::TransformTest::test_lion_invalid_mode_raises":
        "scale_by_lion(mode='invalid_mode') raises the ValueError at construction, naming the modes; "
        "optax raises it at the first update, and its test constructs outside assertRaises",
}
