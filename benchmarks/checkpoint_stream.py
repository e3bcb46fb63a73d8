"""What checkpoints and streamed data cost a sweep, against the same sweep without them.

    python benchmarks/checkpoint_stream.py [--trials 16] [--hidden 1024] [--steps 200] [--reps 3]

One runner (its programs compiled once, before timing) trains ``--trials`` MLPs
(256 -> hidden -> 10, Adam) for ``--steps`` steps in chunks of 20, interleaved:

* ``arrays``: the data on the device, every trial on the same batches (shared_batches);
* ``arrays + npz``: the same, with a ``.npz`` checkpoint after every chunk (process 0
  gathers and writes every trial's params and Adam moments, synchronously);
* ``arrays + orbax``: the same, with an orbax-checkpoint folder after every chunk (the
  copy to the host is synchronous, the disk write overlaps the next chunks);
* ``stream``: the same batches read from a memory-mapped ``.npy`` file, one chunk at a
  time, the next read while the current one trains.

Prints medians and the median per-round ratio to ``arrays``.
"""

import argparse
import itertools
import os
import shutil
import statistics
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import optfn  # noqa: E402
from _timing import interleaved, median_ratio  # noqa: E402
from optfn import sweep  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--trials", type=int, default=16)
parser.add_argument("--hidden", type=int, default=1024)
parser.add_argument("--steps", type=int, default=200)
parser.add_argument("--batch", type=int, default=128)
parser.add_argument("--reps", type=int, default=3)
args = parser.parse_args()

B, CHUNK = args.batch, 20


def init(key, hp):
    k1, k2 = jax.random.split(key)
    return {"w1": jax.nn.initializers.he_normal()(k1, (256, args.hidden)), "b1": jnp.zeros(args.hidden),
            "w2": jax.nn.initializers.glorot_normal()(k2, (args.hidden, 10)), "b2": jnp.zeros(10)}


def loss(p, b):
    logits = jax.nn.relu(b["x"] @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), b["y"][:, None], axis=1))


def main():
    folder = tempfile.mkdtemp(prefix="optfn-bench-")
    rng = np.random.default_rng(0)
    n = B * 64  # 64 batches per pass
    x = rng.normal(size=(n, 256)).astype(np.float32)
    y = rng.integers(0, 10, size=n).astype(np.int32)
    np.save(os.path.join(folder, "x.npy"), x)
    np.save(os.path.join(folder, "y.npy"), y)
    xs, ys = (np.load(os.path.join(folder, f), mmap_mode="r") for f in ("x.npy", "y.npy"))

    def batches(step):
        for t in itertools.count(step):
            i = t % 64
            yield {"x": xs[i * B:(i + 1) * B], "y": ys[i * B:(i + 1) * B]}

    common = dict(init=init, loss=loss, optimizer=lambda h: optfn.adam(h["lr"]), steps=args.steps,
                  chunk_steps=CHUNK, batch_size=B)
    on_device = sweep.Runner(data={"x": x, "y": y}, shared_batches=True, **common)
    streamed = sweep.Runner(data=sweep.Stream(batches), **common)
    space = sweep.Space({"lr": sweep.log_uniform(1e-4, 1e-2)})
    count = itertools.count()

    def fresh(suffix):
        return os.path.join(folder, f"ckpt{next(count)}{suffix}")

    contenders = {
        "arrays": lambda: on_device.run(space, args.trials, seed=0),
        "arrays + npz": lambda: on_device.run(space, args.trials, seed=0, checkpoint=fresh(".npz")),
        "arrays + orbax": lambda: on_device.run(space, args.trials, seed=0, checkpoint=fresh("")),
        "stream": lambda: streamed.run(space, args.trials, seed=0),
    }
    times = interleaved(contenders, args.reps, warmup=1)
    state = 3 * sum(a.size for a in jax.tree.leaves(init(jax.random.key(0), {}))) * 4 * args.trials
    print(f"{args.trials} trials x {args.steps} steps, a checkpoint every {CHUNK} steps of "
          f"{state / 2**20:.0f} MiB (params and Adam moments); {jax.device_count()} device(s), "
          f"{jax.devices()[0].platform}")
    print(f"{'contender':<16} {'median s':>9} {'ratio to arrays':>16}")
    for name, t in times.items():
        print(f"{name:<16} {statistics.median(t):>9.2f} {median_ratio(t, times['arrays']):>15.2f}x")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
