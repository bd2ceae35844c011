"""People's recordings scored after every training epoch (`train.watch_sets`).

Trained on synthetic voices, a model's validation accuracy says how well it hears held-out
*synthetic* voices. How it hears people is the figure that matters, and it stops rising long
before validation accuracy does ("Where the real figure stops" in docs/offline-model.md).
This puts that curve in metrics/training.csv beside the others, as `<name>_accuracy` and
`<name>_keyword_accuracy`. It is only watched: the epoch kept is still chosen on the
validation split by `train.early_stopping.monitor`, so the recordings never steer training.
"""

from __future__ import annotations

from typing import Any

import tf_keras as keras

from stages import recordings
from stages.inference import Classifier


class WatchSets(keras.callbacks.Callback):
    """Adds each watched folder's accuracy and keyword accuracy to the epoch's logs."""

    def __init__(self, sets: dict[str, str], classifier: Classifier, batch_size: int) -> None:
        """`classifier` wraps the model being trained, so each epoch scores its current weights."""
        super().__init__()
        self.classifier, self.batch_size = classifier, batch_size
        self.sets = {name: recordings.read(f"train.watch_sets.{name}", location, classifier.labels)
                     for name, location in sets.items()}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        labels = self.classifier.labels
        for name, found in self.sets.items():
            predicted = self.classifier.probabilities(found.clips, self.batch_size).argmax(axis=1)
            logs[f"{name}_accuracy"] = float((predicted == found.truth).mean())
            keyword = recordings.keyword_accuracy(labels, found.truth, predicted)
            logs[f"{name}_keyword_accuracy"] = float("nan") if keyword is None else keyword
