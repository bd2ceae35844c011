"""What the figures were measured on: CPU, memory, load, library versions."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("tensorflow", "tf-keras", "torch", "transformers", "datasets", "dvc", "numpy")


def cpuinfo() -> dict[str, Any]:
    """CPU model, logical CPUs and physical cores from /proc/cpuinfo."""
    processors = [
        {key.strip(): value.strip() for key, value in (line.split(":", 1) for line in block.splitlines() if ":" in line)}
        for block in Path("/proc/cpuinfo").read_text().strip().split("\n\n")
    ]
    return {
        "cpu_model": processors[0].get("model name", "unknown"),
        "logical_cpus": len(processors),
        "physical_cores": len({(cpu.get("physical id"), cpu.get("core id")) for cpu in processors}),
        "avx512": "avx512f" in processors[0].get("flags", "").split(),
    }


def memory_gib() -> float:
    """Total memory, GiB (/proc/meminfo)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return float("nan")


def versions() -> dict[str, str]:
    """Python and the installed versions of the libraries measured."""
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def git_revision(repo: Path) -> str:
    """The repository's commit, `-dirty` when the working tree has changes."""
    result = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=repo, capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages: how busy the machine was around the measurement."""
    return [round(load, 2) for load in os.getloadavg()]


def describe(repo: Path) -> dict[str, Any]:
    """Everything above, with the kernel, the load average now and the interpreter."""
    return {
        **cpuinfo(), "memory_gib": memory_gib(), "platform": platform.platform(),
        "load_average": load_average(), "executable": sys.executable,
        "versions": versions(), "git": git_revision(repo),
    }
