"""Run the benchmarks and write results.json and RESULTS.md: `python -m bench.run --size full`.

Every benchmark runs in this one process (the train-step comparison has TensorFlow and
PyTorch side by side), except the stages whose memory is measured and `dvc repro`, which run
as the pipeline runs them, in child processes. Both frameworks get the same thread pools,
set here before either starts. Results are written after each benchmark, so a long run that
dies keeps what it finished; a benchmark that fails is recorded with its error, the others
still run, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from bench import machine, memory, noop_repro, predict, preprocess, repro, report, train_step
from bench.clips import Pool, generate
from bench.project import REPO, SCRATCH, labels, repo_params
from bench.sizes import SIZES, Size

BENCHMARKS = ("train_step", "preprocess", "memory", "noop_repro", "predict", "repro")


def configure_threads(threads: int) -> None:
    """The same intra- and inter-op thread pools for TensorFlow and PyTorch (before either runs)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)


def benchmarks(size: Size, args: argparse.Namespace, pool: Callable[[], Pool]) -> dict[str, Callable[[Path], Any]]:
    """Each benchmark as a function of its own scratch directory."""
    return {
        "train_step": lambda work: {name: train_step.run(case) for name, case in size.train.items()},
        "preprocess": lambda work: preprocess.run(pool(), size.preprocess_clips, size.preprocess_repeats, work),
        "memory": lambda work: memory.run(pool(), size.memory_clips, work),
        "noop_repro": lambda work: noop_repro.run(pool(), size.noop_clips, size.noop_repeats, work),
        "predict": lambda work: predict.run(size.predict_configs, size.predict_latency_repeats,
                                            size.predict_throughput_repeats, args.threads, work),
        "repro": lambda work: repro.run(args.repro, args.repro_seconds, work),
    }


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full",
                        help="full: the figures to report; tiny: a check that all runs (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=REPO / "bench", help="where results.json and RESULTS.md go (default: bench/)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="intra- and inter-op threads for both frameworks (default: the CPU count, %(default)s)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS), metavar="NAME",
                        help=f"run only these ({', '.join(BENCHMARKS)})")
    parser.add_argument("--repro", action="store_true",
                        help="also time the default `dvc repro` from scratch in a copy (about 7 minutes on 2 cores)")
    parser.add_argument("--repro-seconds", type=float, help="wall time of a default `dvc repro` timed elsewhere, to record")
    parser.add_argument("--work", type=Path, help="parent of the scratch directory (default: the system temp directory)")
    parser.add_argument("--keep-work", action="store_true", help="keep the scratch directory (default: remove it)")
    return parser.parse_args(argv)


def keep_earlier(record: dict[str, Any], previous: Path, only: list[str]) -> None:
    """With `--only`, carry the other benchmarks' results over from the last results.json, each
    marked with the run that measured it, so one rerun benchmark does not erase the rest."""
    if set(only) == set(BENCHMARKS) or not previous.exists():
        return
    earlier = json.loads(previous.read_text())
    if earlier.get("size") != record["size"]:
        return
    origin = {"started": earlier["started"], "command": earlier["command"], "git": earlier["machine"]["git"]}
    for name, result in earlier["benchmarks"].items():
        if name not in only:
            record["benchmarks"][name] = result
            record.setdefault("earlier", {})[name] = earlier.get("earlier", {}).get(name, origin)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    configure_threads(args.threads)
    size = SIZES[args.size]
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=args.work))
    record: dict[str, Any] = {
        "size": size.name, "command": shlex.join(["python", "-m", "bench.run", *(argv if argv is not None else sys.argv[1:])]),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "threads": args.threads,
        "machine": machine.describe(REPO), "benchmarks": {}, "errors": {},
    }
    keep_earlier(record, args.out / report.JSON, args.only)
    pools: list[Pool] = []

    def pool() -> Pool:
        """The clips the audio benchmarks share, generated on first use."""
        if not pools:
            pools.append(generate(work / "pool", size.pool_clips, labels(repo_params(SCRATCH))))
        return pools[0]

    start = time.perf_counter()
    try:
        for name, benchmark in benchmarks(size, args, pool).items():
            if name not in args.only:
                continue
            print(f"bench: {name} ({size.name})", flush=True)
            begun = time.perf_counter()
            try:
                record["benchmarks"][name] = benchmark(work / name)
            except Exception:
                record["errors"][name] = traceback.format_exc(limit=-3)
                print(f"bench: {name} failed:\n{record['errors'][name]}", file=sys.stderr, flush=True)
            shutil.rmtree(work / name, ignore_errors=True)
            print(f"bench: {name} took {time.perf_counter() - begun:.0f} s", flush=True)
            record["duration_s"] = round(time.perf_counter() - start, 1)
            record["load_average_end"] = machine.load_average()
            report.write(args.out, record)
    finally:
        if args.keep_work:
            print(f"bench: scratch files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"bench: wrote {args.out / report.JSON} and {args.out / report.MARKDOWN}")
    return 1 if record["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
