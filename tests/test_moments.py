"""The shared moment primitives against float64 NumPy, and the check that the optimizers
write their moment updates and bias corrections only through them."""

import io
import pathlib
import re
import tokenize

import hypothesis.strategies as st
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings

import optfn
from optfn import _moments

decays = st.floats(0.0, 0.9999)
counts = st.integers(1, 5000)
values = st.lists(st.floats(-1e3, 1e3, allow_subnormal=False), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(decays, values, values, counts, st.booleans())
def test_primitives_match_float64(decay, m, g, count, nesterov):
    n = min(len(m), len(g))
    m64, g64 = np.array(m[:n]), np.array(g[:n])
    m32, g32, t = jnp.asarray(m64, jnp.float32), jnp.asarray(g64, jnp.float32), jnp.int32(count)
    # hyperparameters live in float32 (0.9999 is 0.99989998...): the reference takes that value,
    # whose t-th power differs from 0.9999**t by up to t * 6e-8 relative
    decay = float(np.float32(decay))
    new = m64 * decay + (1 - decay) * g64
    scale = np.abs(m64).max() + np.abs(g64).max() + 1e-30
    np.testing.assert_allclose(_moments.ema(m32, g32, decay), new, rtol=0, atol=4e-7 * scale)
    sq = np.abs(m64) * decay + (1 - decay) * g64 ** 2
    np.testing.assert_allclose(_moments.second_moment(jnp.abs(m32), g32, decay), sq, rtol=4e-6,
                               atol=4e-7 * (np.abs(m64).max() + scale ** 2))
    bc = 1 - decay ** count
    # float32's decay**count is relative-accurate, so 1 - it keeps ~1e-7 / bc of relative error
    np.testing.assert_allclose(_moments.bias_correction(decay, t, jnp.float32), bc, rtol=4e-6 / max(bc, 1e-3) + 1e-6)
    if bc > 1e-3:
        np.testing.assert_allclose(_moments.debiased(jnp.float32(2.5), decay, t), 2.5 / bc, rtol=1e-3)
        estimate = (decay * new / (1 - decay ** (count + 1)) + (1 - decay) * g64 / bc) if nesterov else new / bc
        got = _moments.first_moment_estimate(jnp.asarray(new, jnp.float32), g32, decay, t, nesterov)
        np.testing.assert_allclose(got, estimate, rtol=1e-3, atol=1e-3 * scale)


def test_rest_replaces_one_minus_decay():
    # ADOPT's first step: decay 0 and weight 1 give x itself; a given 1 - b2 is used as given
    x = jnp.array([3.0, -1.0])
    np.testing.assert_array_equal(_moments.ema(jnp.array([7.0, 7.0]), x, 0.0, 1.0), x)
    np.testing.assert_allclose(_moments.ema(jnp.zeros(2), x, 0.9999, 1e-4), 1e-4 * np.array([3.0, -1.0]), rtol=1e-7)


def test_complex_second_moment_is_real_and_non_negative():
    g = jnp.array([1 + 2j, -3j], jnp.complex64)
    v = _moments.second_moment(jnp.zeros(2, jnp.complex64), g, 0.5)
    np.testing.assert_allclose(v, [2.5, 4.5])
    assert np.all(np.asarray(v).imag == 0)


def _code(path):
    """A module's source without its strings and comments (docstrings state the formulas)."""
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    return " ".join(t.string for t in tokens if t.type not in (tokenize.STRING, tokenize.COMMENT))


# b * m + (1 - b) * x in either order, and 1 - b ** t: a moment update or a bias correction
_MOVING_AVERAGE = re.compile(r"\b(\w+) \* [\w.()\[\] ]+? \+ \( 1 - \1 \) \*|\( 1 - (\w+) \) \* [\w.()\[\] ]+? \+ \2 \*")
_BIAS_CORRECTION = re.compile(r"1 - [\w.(), ]+? \*\* \w")


def test_moment_updates_are_written_once():
    package = pathlib.Path(optfn.__file__).parent
    sources = {p.name: _code(p) for p in package.glob("_*.py")}
    # the harness finds what it looks for: the primitives' own module has both forms
    own = " ".join(["beta * moment . astype ( ct ) + ( 1 - beta ) * x", "1 - as_dtype ( decay , dtype ) ** count"])
    assert _MOVING_AVERAGE.search(own) and _BIAS_CORRECTION.search(own)
    offenders = [name for name, code in sources.items() if name != "_moments.py" and (
        _MOVING_AVERAGE.search(code) or _BIAS_CORRECTION.search(code))]
    assert offenders == []
    users = [name for name, code in sources.items() if "_moments" in code]
    for name in ("_adam.py", "_adam_family.py", "_adopt.py", "_ademamix.py", "_muon.py", "_soap.py",
                 "_prodigy.py", "_rmsprop.py", "_ema.py", "_sign.py", "_adadelta.py", "_adafactor.py"):
        assert name in users, name
