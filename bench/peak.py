"""Run a command and record its peak memory: `python -m bench.peak RESULT.json COMMAND...`.

Linux keeps in a process's `ru_maxrss` the high-water mark of the memory image it replaced at
exec: a stage started straight from bench.run, which holds gigabytes after the train-step
benchmark, would report bench.run's peak. Started from this small process instead, the
stage's figure is its own peak (or this process's few MiB, whichever is larger). Written as
JSON: the command's exit status, its `ru_maxrss` (from `os.wait4`), and the peak of its
anonymous memory (RssAnon, what it allocated itself, without file pages), sampled every 0.1 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

SAMPLE_EVERY_S = 0.1


def status_kib(pid: int | str, field: str) -> int:
    """A `VmHWM:`-style field of /proc/<pid>/status, KiB (0 once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> None:
    result, *command = sys.argv[1:]
    process = subprocess.Popen(command)
    anonymous = 0
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        anonymous = max(anonymous, status_kib(process.pid, "RssAnon"))
        time.sleep(SAMPLE_EVERY_S)
    code = os.waitstatus_to_exitcode(status)
    Path(result).write_text(json.dumps({
        "returncode": code, "peak_rss_kib": usage.ru_maxrss, "peak_anon_kib": anonymous,
        "launcher_peak_rss_kib": status_kib("self", "VmHWM"),
    }))
    sys.exit(code)


if __name__ == "__main__":
    main()
