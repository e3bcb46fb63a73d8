"""One process of a two-process sweep on 127.0.0.1 (started by test_sweep_multihost.py).

    python tests/multihost_worker.py --process-id 0 --num-processes 2 --port 12345 --out results.json

Each process has 2 CPU devices; the sweep's mesh spans all 4. Process 0 writes the
gathered results. ``--stream`` feeds host batches, ``--checkpoint DIR --stop-at STEP``
interrupts the sweep after an orbax checkpoint (exit code 3); the same command without
``--stop-at`` resumes it.
"""

import argparse
import os
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import multihost_problem  # noqa: E402
import interrupt  # noqa: E402
from optfn import sweep  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--process-id", type=int, required=True)
    parser.add_argument("--num-processes", type=int, default=2)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--stream", action="store_true", help="feed the data as a stream of host batches")
    parser.add_argument("--checkpoint", help="an orbax checkpoint folder (resumed when it exists)")
    parser.add_argument("--stop-at", type=int, help="interrupt the sweep at this step (exit code 3)")
    args = parser.parse_args()
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU collectives across processes
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{args.port}", num_processes=args.num_processes,
                               process_id=args.process_id)
    assert jax.device_count() == 2 * args.num_processes and jax.local_device_count() == 2
    try:
        result = multihost_problem.run(mesh=sweep.trials_mesh(), stream=args.stream, checkpoint=args.checkpoint,
                                       stop_at=args.stop_at)
    except interrupt.Stop:
        jax.distributed.shutdown()
        sys.exit(3)
    if jax.process_index() == 0:
        result.to_json(args.out)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main()
