"""Probe, not part of `make bench`: what Kokoro's word cache saves when the download reruns.

The download stage (`python -m stages.download`) with the repository's params, run in scratch
folders: first with an empty cache (every Kokoro word spoken), then again with the cache it
filled and `data.synthetic.reverb` set to 0.25 (the default is 0.5), as after an edit of
params.yaml that leaves Kokoro's words as they were. Each pair is repeated with a fresh cache;
the medians and their ratio. Once more, warm with the cold run's own params: its clips must be
byte for byte the cold run's (their SHA-256 in the manifest).

    python -m bench.kokoro_cache [--repeats 2] [--kokoro-speakers 60]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.project import command, write_params
from bench.timing import median, rounded
from stages import manifest
from stages.kokoro import CACHE_VARIABLE
from stages.paths import MANIFEST


def download(folder: Path, cache: Path, overrides: dict[str, Any]) -> tuple[float, list[str]]:
    """Seconds the download stage takes in `folder` with these params and Kokoro cache, and
    the SHA-256 of every clip it wrote, in manifest order."""
    folder.mkdir(parents=True)
    write_params(folder, overrides)
    start = time.perf_counter()
    command(["env", f"{CACHE_VARIABLE}={cache}", "python", "-m", "stages.download"], folder)
    elapsed = time.perf_counter() - start
    return elapsed, [row["sha256"] for row in manifest.read(folder / MANIFEST)]


def measure(overrides: dict[str, Any], repeats: int, work: Path) -> dict[str, Any]:
    """Download seconds with Kokoro's words spoken (cold) and read back after a reverb edit
    (warm), with these params overrides, in scratch folders under `work`."""
    edited = {**overrides, "data.synthetic.reverb": 0.25}
    cold, warm, spoken = [], [], []
    for run in range(repeats):
        seconds, clips = download(work / f"cold{run}", work / f"cache{run}", overrides)
        cold.append(seconds)
        spoken.append(clips)
        warm.append(download(work / f"warm{run}", work / f"cache{run}", edited)[0])
    again = download(work / "again", work / "cache0", overrides)[1]
    return {"cold_s": median(cold), "cold_s_all": rounded(cold), "warm_s": median(warm), "warm_s_all": rounded(warm),
            "ratio": round(median(cold) / median(warm), 2), "identical": again == spoken[0], "clips": len(again)}


def main() -> None:
    """Print the cold and warm download times, their ratio, and whether the clips agree."""
    parser = argparse.ArgumentParser(prog="python -m bench.kokoro_cache", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="runs of each kind (default: %(default)s)")
    parser.add_argument("--kokoro-speakers", type=int, help="data.synthetic.kokoro_speakers (default: params.yaml's)")
    args = parser.parse_args()
    overrides = {} if args.kokoro_speakers is None else {"data.synthetic.kokoro_speakers": args.kokoro_speakers}
    with tempfile.TemporaryDirectory() as scratch:
        found = measure(overrides, args.repeats, Path(scratch))
    print(f"download of {found['clips']} clips, Kokoro's words spoken: {found['cold_s']:.1f} s (median of {found['cold_s_all']})")
    print(f"again with reverb changed, Kokoro's words read from the cache: {found['warm_s']:.1f} s (median of {found['warm_s_all']})")
    print(f"ratio {found['ratio']:.2f}x; clips read from the cache identical to those spoken: {found['identical']}")


if __name__ == "__main__":
    main()
