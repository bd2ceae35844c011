"""Batches streamed from the feature arrays on disk through tf.data.

Only the indices live in the tf.data graph; each batch is read from the files when it is
needed, so memory stays bounded by a few batches whatever the dataset size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from stages.arrays import Rows
from stages.errors import PipelineError


class Split:
    """One split's arrays: the labels in memory, the clips' rows read from disk on demand."""

    def __init__(self, directory: Path) -> None:
        directory = Path(directory)
        try:
            self.input_values = Rows(directory / "input_values.npy")
            self.labels = np.load(directory / "labels.npy")
        except FileNotFoundError as error:
            raise PipelineError(f"{error.filename}: not found; run preprocess first (dvc repro)") from None
        mask_file = directory / "attention_mask.npy"
        self.attention_mask = Rows(mask_file) if mask_file.exists() else None
        if len(self.input_values) != len(self.labels):
            raise PipelineError(f"{directory}: input_values and labels differ in length")

    def __len__(self) -> int:
        return len(self.labels)

    def _gather(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        indices = np.sort(indices)
        batch = [self.input_values.take(indices), self.labels[indices]]
        if self.attention_mask is not None:
            batch.append(self.attention_mask.take(indices).astype(np.int32))
        return tuple(batch)

    def dataset(self, batch_size: int, shuffle_seed: int | None = None) -> tf.data.Dataset:
        """(inputs, labels) batches; reshuffled every epoch when `shuffle_seed` is given."""
        length = self.input_values.shape[1]
        types = [tf.float32, tf.int32] + ([tf.int32] if self.attention_mask is not None else [])
        indices = tf.data.Dataset.range(len(self))
        if shuffle_seed is not None:
            indices = indices.shuffle(len(self), seed=shuffle_seed, reshuffle_each_iteration=True)

        def load(batch_indices: tf.Tensor):
            arrays = tf.numpy_function(self._gather, [batch_indices], types)
            inputs = {"input_values": tf.ensure_shape(arrays[0], [None, length])}
            if self.attention_mask is not None:
                inputs["attention_mask"] = tf.ensure_shape(arrays[2], [None, length])
            return inputs, tf.ensure_shape(arrays[1], [None])

        return indices.batch(batch_size).map(load, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
