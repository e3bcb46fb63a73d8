"""Test configuration: 8 fake CPU devices, strict dtype promotion, deterministic hypothesis.

XLA_FLAGS must be set before JAX is first imported, so this module sets it at import.
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
from hypothesis import settings  # noqa: E402

jax.config.update("jax_numpy_dtype_promotion", "strict")

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=40, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_finish(session):
    # optax's own tests run on optfn for minutes in a subprocess: start them now, beside the
    # rest of the suite (tests/test_optax_suite.py waits for them)
    # Under pytest-xdist each worker collects everything: the worker that runs the file
    # starts the run from its fixture instead, and the other worker goes on meanwhile.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    files = {os.path.basename(str(item.fspath)) for item in session.items}
    if "test_optax_suite.py" in files:
        import tempfile

        import test_optax_suite  # imported already by the collection

        folder = tempfile.mkdtemp(prefix="optfn-optax-suite-")
        session.config._optax_suite = test_optax_suite.start(folder, alone=files == {"test_optax_suite.py"})


def pytest_unconfigure(config):
    started = getattr(config, "_optax_suite", None)
    if started is not None and started[0].poll() is None:  # the session ended first (-x, Ctrl-C)
        started[0].kill()
        started[0].wait()
