"""The synthetic source's speed, Kokoro overlapping the other engines ÷ one engine after another:
`python -m bench.synthesis [--fraction 0.2] [--repeats 3]`.

Kokoro is the download stage's slow part (0.6 s a word, in one worker process per core); eSpeak
NG, Pico and Flite run in the stage's own process, on one core. The source opens Kokoro's
workers first, so that they speak while the other engines run. Side by side, on the default
params with every engine's speakers scaled by `--fraction`:
- ours: `synthetic.synthesise` as the download stage runs it;
- one after another: the same clips in two calls, the other engines alone (no Kokoro
  speakers), then Kokoro alone (no other speakers), which is how the source ran before.
Each way runs in a fresh process (eSpeak keeps state between utterances), timed from inside it;
the two take turns, repeat by repeat, and the medians and their ratio are printed. Both ways
make the same clips (checked every repeat).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from typing import Any

from bench.project import REPO, repo_params
from bench.timing import median, rounded, seconds
from stages.sources import synthetic

ENGINES = ("speakers", "pico_speakers", "flite_speakers", "kokoro_speakers")
"""data.synthetic's speaker counts, one per engine."""


def scaled(fraction: float, keep: tuple[str, ...] = ENGINES) -> dict[str, Any]:
    """The default params with each engine in `keep` at `fraction` of its speakers, the others at none."""
    config = repo_params()
    counts = config["data"]["synthetic"]
    for engine in ENGINES:
        counts[engine] = max(1, round(counts[engine] * fraction)) if engine in keep else 0
    return config


def digests(config: dict[str, Any]) -> list[str]:
    """Every clip's origin and a hash of its samples, in the order the source makes them."""
    return [f"{clip.origin}:{hashlib.sha256(clip.read().tobytes()).hexdigest()}" for clip in synthetic.synthesise(config)]


def fresh(configs: list[dict[str, Any]]) -> tuple[float, list[str]]:
    """Seconds to make every clip of `configs`, one after another in one new process, and their digests."""
    result = subprocess.run([sys.executable, "-m", "bench.synthesis", "--child"], input=json.dumps(configs),
                            capture_output=True, text=True, cwd=REPO, check=True)
    answer = json.loads(result.stdout.splitlines()[-1])
    return answer["seconds"], answer["digests"]


def child() -> None:
    """The `--child` side of `fresh`: configs on stdin, one JSON line on stdout."""
    configs = json.loads(sys.stdin.read())
    made: list[str] = []
    elapsed = seconds(lambda: [made.extend(digests(config)) for config in configs])
    print(json.dumps({"seconds": elapsed, "digests": made}))


def run(fraction: float, repeats: int) -> dict[str, Any]:
    """Time both ways `repeats` times, taking turns."""
    ways = {"ours": [scaled(fraction)], "one_after_another": [scaled(fraction, ENGINES[:3]), scaled(fraction, ENGINES[3:])]}
    times: dict[str, list[float]] = {way: [] for way in ways}
    for _ in range(repeats):
        made = {}
        for way, configs in ways.items():
            elapsed, made[way] = fresh(configs)
            times[way].append(elapsed)
        if made["ours"] != made["one_after_another"]:
            raise AssertionError("the two ways made different clips")
    ours, sequential = median(times["ours"]), median(times["one_after_another"])
    counts = ways["ours"][0]["data"]["synthetic"]
    return {"speakers": {engine: counts[engine] for engine in ENGINES}, "clips": len(made["ours"]),
            "ours_s": ours, "one_after_another_s": sequential, "speedup": round(sequential / ours, 3),
            "runs": {way: rounded(values) for way, values in times.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.synthesis", description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=float, default=0.2, help="share of each engine's default speakers (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each way (default: %(default)s)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child()
        return 0
    print(json.dumps(run(args.fraction, args.repeats), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
