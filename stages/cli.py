"""Runs a stage's `main`, turning a `PipelineError` into a one-line message and exit status 1."""

from __future__ import annotations

import sys
from typing import Callable

from stages.errors import PipelineError


def run(main: Callable[[], None]) -> None:
    """Call `main`; report a `PipelineError` as `error: …` on stderr rather than a traceback."""
    try:
        main()
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
