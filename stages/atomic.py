"""Outputs that appear whole or not at all.

A stage writes into a temporary sibling and renames it into place only when complete, so an
interrupted stage never leaves a half output that DVC would take for a finished one.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def output_dir(path: Path) -> Iterator[Path]:
    """Yield an empty temporary directory that replaces `path` when the block succeeds."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(path, ignore_errors=True)
    os.replace(partial, path)


@contextmanager
def output_file(path: Path) -> Iterator[Path]:
    """Yield a temporary file name that replaces `path` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
