"""Data streamed from the host: a memory-mapped file larger than a chunk, fed to every trial.

The reference trains each configuration alone with a hand-written loop (``jax.grad`` and
the SGD-with-momentum formula, one batch after another in file order), independent of
the runner's programs.
"""

import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import interrupt
import optfn
from optfn import sweep

B, CHUNK, STEPS = 16, 5, 20
SPACE = sweep.Space({"lr": sweep.log_uniform(1e-3, 0.3), "momentum": sweep.uniform(0.0, 0.9)})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("stream")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40 * B, 4)).astype(np.float32)
    y = np.tanh(x @ np.array([1.0, -2.0, 0.5, 3.0], np.float32)).astype(np.float32)
    np.save(d / "x.npy", x)
    np.save(d / "y.npy", y)
    return np.load(d / "x.npy", mmap_mode="r"), np.load(d / "y.npy", mmap_mode="r")


class Batches:
    """A re-iterable over a memory-mapped pair: one pass is an epoch; records who reads."""

    def __init__(self, x, y):
        self.x, self.y, self.threads, self.passes = x, y, set(), 0

    def __len__(self):
        return len(self.x) // B

    def __iter__(self):
        self.passes += 1
        for i in range(len(self)):
            self.threads.add(threading.current_thread().name)
            yield {"x": self.x[i * B:(i + 1) * B], "y": self.y[i * B:(i + 1) * B]}


def init(key, hp):  # the same start for every trial, so the solo reference needs no trial keys
    return {"w": 0.3 * jax.random.normal(jax.random.PRNGKey(0), (4, 6)), "v": jnp.zeros(6)}


def loss(p, b):
    return jnp.mean((jnp.tanh(b["x"] @ p["w"]) @ p["v"] - b["y"]) ** 2)


def _runner(data, **kw):
    return sweep.Runner(init=init, loss=loss, data=data, evaluate=loss, eval_data=kw.pop("eval_data"),
                        optimizer=lambda h: optfn.sgd(h["lr"], momentum=h["momentum"]), chunk_steps=CHUNK, **kw)


def _alone(files, hp, steps):
    """One configuration trained by itself: heavy-ball momentum, v <- m v + g, p <- p - lr v."""
    x, y = files
    p = init(None, hp)
    vel = jax.tree.map(jnp.zeros_like, p)
    grad = jax.jit(jax.grad(loss))
    for t in range(steps):
        i = t % (len(x) // B)
        g = grad(p, {"x": jnp.asarray(x[i * B:(i + 1) * B]), "y": jnp.asarray(y[i * B:(i + 1) * B])})
        vel = jax.tree.map(lambda v, g: hp["momentum"] * v + g, vel, g)
        p = jax.tree.map(lambda a, v: a - hp["lr"] * v, p, vel)
    return p


@pytest.fixture(scope="module")
def streamed(files):
    x, y = files
    assert x.nbytes + y.nbytes > CHUNK * B * (4 + 1) * 4  # the file holds more than a chunk
    source = Batches(x, y)
    runner = _runner(source, steps=STEPS, eval_data={"x": x[:64], "y": y[:64]})
    return runner, source, runner.run(SPACE, 6, seed=1)


def test_a_memory_mapped_stream_trains_each_trial_as_if_alone(files, streamed):
    runner, source, result = streamed
    assert runner.compile_counts == {"init": 1, "chunk": 1}
    for trial in result.trials[:3]:
        want = _alone(files, trial["hyperparams"], STEPS)
        got = result.params(trial["id"])
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
    # every chunk after the first was read off the main thread while the previous one trained
    assert any(name.startswith("optfn-stream") for name in source.threads)


def test_eight_devices_give_the_one_device_results(files, streamed):
    _, _, alone = streamed
    x, y = files
    runner = _runner(Batches(x, y), steps=STEPS, eval_data={"x": x[:64], "y": y[:64]})
    sharded = runner.run(SPACE, 6, seed=1, mesh="auto")
    assert sharded.width % 8 == 0
    np.testing.assert_allclose(sharded.history(), alone.history(), rtol=2e-5, atol=1e-7)


def test_epochs_follow_the_stream_length_and_each_pass_restarts_it(files):
    x, y = files
    short = Batches(x[:4 * B], y[:4 * B])  # 4 batches per pass
    runner = sweep.Runner(init=init, loss=loss, data=short, epochs=3,
                          optimizer=lambda h: optfn.sgd(h["lr"], momentum=h["momentum"]))
    assert (runner.steps, runner.chunk_steps, runner.steps_per_epoch()) == (12, 4, 4)
    result = runner.run(SPACE, 2, seed=0)
    trial = result.trials[0]
    want = _alone((x[:4 * B], y[:4 * B]), trial["hyperparams"], 12)
    for a, b in zip(jax.tree.leaves(result.params(trial["id"])), jax.tree.leaves(want)):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
    assert short.passes >= 3


def test_a_resumed_stream_skips_what_was_trained_and_matches(files, tmp_path):
    x, y = files

    def from_step(step):  # the function form: starts where it is asked to
        n = len(x) // B
        for t in range(step, 10**9):
            i = t % n
            yield {"x": x[i * B:(i + 1) * B], "y": y[i * B:(i + 1) * B]}

    eval_data = {"x": x[:64], "y": y[:64]}
    full = _runner(sweep.Stream(from_step), steps=STEPS, eval_data=eval_data).run(SPACE, 4, seed=5, halving=2,
                                                                                 min_steps=10)

    path = str(tmp_path / "s.npz")
    with pytest.raises(interrupt.Stop):
        _runner(sweep.Stream(from_step), steps=STEPS, eval_data=eval_data).run(
            SPACE, 4, seed=5, halving=2, min_steps=10, checkpoint=path, callback=interrupt.stop_at(10))
    for source in (sweep.Stream(from_step), Batches(x, y)):  # seeks, or re-reads and skips
        resumed = _runner(source, steps=STEPS, eval_data=eval_data).run(
            SPACE, 4, seed=5, halving=2, min_steps=10, checkpoint=path, resume=True)
        np.testing.assert_allclose(resumed.history(), full.history(), rtol=1e-6)


def test_stream_mistakes_are_named(files):
    x, y = files
    eval_data = {"x": x[:64], "y": y[:64]}

    def ragged():
        for i in range(100):
            n = B if i != 7 else B - 3
            yield {"x": np.asarray(x[:n]), "y": np.asarray(y[:n])}

    runner = _runner(ragged(), steps=STEPS, eval_data=eval_data)
    with pytest.raises(ValueError, match=r"batch 7 of the data stream has .*shapes \[\(13, 4\), \(13,\)\]"):
        runner.run(SPACE, 2, seed=0)

    once = (b for b in Batches(x, y))  # a one-shot generator: 40 batches, used up by 2 runs of 20
    runner = _runner(once, steps=STEPS, eval_data=eval_data)
    first = runner.run(SPACE, 2, seed=0)
    with pytest.raises(ValueError, match="one-shot iterator already read up to batch"):
        runner.confirm(first, top_k=1, seeds=2)

    with pytest.raises(ValueError, match="batch_size cannot be a hyperparameter"):
        _runner(Batches(x, y), steps=STEPS, eval_data=eval_data).run(
            sweep.Space({**SPACE.dimensions, "batch_size": sweep.choice(8, 16)}), 2)
    with pytest.raises(TypeError, match="has no len"):
        sweep.Runner(init=init, loss=loss, data=sweep.Stream(lambda s: iter(())), epochs=2,
                     optimizer=lambda h: optfn.sgd(h["lr"]))
    short = (b for b in list(Batches(x, y))[:12])
    with pytest.raises(ValueError, match="stream ended after 12 batches"):
        _runner(short, steps=STEPS, eval_data=eval_data).run(SPACE, 2, seed=0)
