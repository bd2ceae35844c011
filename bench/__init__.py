"""Benchmarks of the pipeline against the reference implementations: `make bench`.

`python -m bench.run` runs them (see bench/README.md). Importing this package first sets the
environment every benchmark needs: tf-keras for the Hugging Face TF classes (via `stages`),
no network for Hugging Face libraries, no progress bars from the stages.
"""

import os

import stages  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
