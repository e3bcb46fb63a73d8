"""Test configuration: 8 fake CPU devices, strict dtype promotion, deterministic hypothesis.

XLA_FLAGS must be set before JAX is first imported, so this module sets it at import.
"""

import os
import tempfile

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
from hypothesis import settings  # noqa: E402

jax.config.update("jax_numpy_dtype_promotion", "strict")

# Many tests compile the same small programs (the same problem, the CLI's tiny sweeps):
# a persistent compilation cache of this session's own, empty at the start, compiles each
# once. Loading an executable from it runs the same code as compiling it.
from optfn.sweep._programs import use_cache  # noqa: E402

use_cache(tempfile.mkdtemp(prefix="optfn-tests-xla-"))

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=40, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    # optax's own tests run on optfn for minutes in a subprocess. Under pytest-xdist (the
    # default: addopts) the controller starts them before the workers exist, so they run
    # from the first second beside the rest; the workers find them through the environment.
    if os.environ.get("PYTEST_XDIST_WORKER") or not getattr(config.option, "numprocesses", None):
        return
    import test_optax_suite

    if test_optax_suite.selected(config.args):
        folder = tempfile.mkdtemp(prefix="optfn-optax-suite-")
        config._optax_suite = test_optax_suite.start(folder, alone=False)
        os.environ[test_optax_suite.FOLDER_VARIABLE] = folder


def pytest_collection_finish(session):
    # without xdist: start optax's tests as soon as the collection shows this run has them
    # (tests/test_optax_suite.py waits for them)
    if os.environ.get("PYTEST_XDIST_WORKER") or getattr(session.config, "_optax_suite", None):
        return
    files = {os.path.basename(str(item.fspath)) for item in session.items}
    if "test_optax_suite.py" in files:
        import test_optax_suite  # imported already by the collection

        folder = tempfile.mkdtemp(prefix="optfn-optax-suite-")
        session.config._optax_suite = test_optax_suite.start(folder, alone=files == {"test_optax_suite.py"})


def pytest_unconfigure(config):
    started = getattr(config, "_optax_suite", None)
    if started is not None and started[0].poll() is None:  # the session ended first (-x, Ctrl-C)
        started[0].kill()
        started[0].wait()
