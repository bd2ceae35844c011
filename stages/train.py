"""Stage 4: fine-tune the classifier on the train split, validating every epoch.

Writes models/kws in the Hugging Face layout (config with id2label, TF weights, the
feature extractor's preprocessor_config.json) and metrics/training.csv for `dvc plots`.
Backs up every epoch to models/train_state, so a killed run resumes (see stages/resume.py),
trains on the devices `train.strategy` picks (see stages/distribute.py), and scores any
`train.watch_sets` after every epoch (see stages/watch.py).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
import tf_keras as keras
from transformers import AutoFeatureExtractor

from stages import atomic, augment, card, distribute, optimization, params, resume
from stages.cli import run
from stages.errors import PipelineError
from stages.features import Split
from stages.inference import Classifier
from stages.model import build, spec_augment
from stages.paths import FEATURES_DIR, HISTORY_FILE, LABELS_FILE, MODEL_DIR, SPLITS, TRAINING_SUMMARY
from stages.watch import WatchSets


def class_weights(labels: np.ndarray, classes: int) -> dict[int, float]:
    """Weights that make every class count as much in the loss, whatever its number of clips."""
    counts = np.bincount(labels, minlength=classes)
    return {index: float(len(labels) / (classes * count)) if count else 0.0 for index, count in enumerate(counts)}


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the learning rate at the end of each epoch to the logs, hence to training.csv."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        optimizer = self.model.optimizer
        rate = optimizer.learning_rate
        if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            rate = rate(optimizer.iterations)
        logs["learning_rate"] = float(keras.backend.get_value(rate))


class SmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy on integer labels against targets that keep `1 - smoothing` for the
    labelled class and spread `smoothing` evenly over all of them: the model is not pushed to
    full certainty on clips whose voices are all synthetic."""

    def __init__(self, classes: int, smoothing: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.classes, self.smoothing = classes, smoothing

    def call(self, labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        targets = tf.one_hot(tf.cast(tf.reshape(labels, [-1]), tf.int32), self.classes)
        return keras.losses.categorical_crossentropy(targets, logits, from_logits=True, label_smoothing=self.smoothing)


def precision_policy(setting: str) -> str:
    """The Keras dtype policy for `train.mixed_precision`: `auto` uses bf16 on GPUs that have
    it (compute capability 8.0 and up); CPUs train in float32."""
    if setting == "auto":
        gpus = tf.config.list_physical_devices("GPU")
        capable = gpus and all(tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0)) >= (8, 0)
                               for gpu in gpus)
        setting = "bf16" if capable else "off"
    return {"off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}[setting]


def steps_per_epoch(clips: int, split: str, batch_size: int, replicas: int) -> int:
    """Batches per pass over a split of `clips` clips: all of them on one device, the full ones
    only across replicas (see `batched`)."""
    if replicas == 1:
        return math.ceil(clips / batch_size)
    if clips < batch_size:
        raise PipelineError(f"train.batch_size: {batch_size} is more than the {clips} {split} clips, "
                            f"and train.strategy's {replicas} replicas take full batches only")
    return clips // batch_size


def batched(split: Split, batch_size: int, replicas: int, shuffle_seed: int | None = None) -> tf.data.Dataset:
    """`split`'s batches; across replicas the full ones only. The last, partial batch can leave
    a replica no clip, and wav2vec2 fails on an empty batch (its attention reshapes by -1), so
    up to batch_size - 1 clips sit out each pass: other ones every epoch in training, the
    same ones in validation."""
    batches = split.dataset(batch_size, shuffle_seed=shuffle_seed)
    if replicas == 1:
        return batches
    return batches.filter(lambda inputs, labels: tf.shape(labels)[0] == batch_size)


def compiled(config: dict[str, Any], labels: list[str], batches: int) -> keras.Model:
    """The classifier, built (BackupAndRestore restores into existing variables) and compiled."""
    settings = config["train"]
    model = build(config["model"], labels)
    model.build_in_name_scope()
    model.compile(
        optimizer=optimization.optimizer(settings, batches),
        loss=SmoothedCrossentropy(len(labels), settings["label_smoothing"]),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=distribute.jit_compile(settings["jit_compile"], model.distribute_strategy,
                                           spec_augment=spec_augment(config["model"])),
    )
    return model


def training_data(split: Split, config: dict[str, Any], replicas: int, skipped: int) -> tf.data.Dataset:
    """Augmented training batches, endlessly, after the first `skipped`: a resumed run picks
    up the stream where the interrupted one stood, rather than replaying the first epoch's.

    One repeated iterator serves the whole run: tf-keras re-creating it at each epoch
    stalled for ~40 s at some epoch starts (TF 2.21, 2-core CPU).
    """
    settings = config["train"]
    batches = batched(split, settings["batch_size"], replicas, shuffle_seed=config["seed"]).repeat()
    return distribute.shardable(augment.augmented(batches, settings["augment"], config["seed"]).skip(skipped))


def fit(model: keras.Model, config: dict[str, Any], splits: dict[str, Split], start: int,
        root: Path) -> resume.KeepBest:
    """Train from epoch `start` to `train.epochs`, backing up every epoch; return the callback
    that holds the best epoch. `root` is where this process writes (see distribute.output_root)."""
    settings = config["train"]
    batch_size, replicas = settings["batch_size"], model.distribute_strategy.num_replicas_in_sync
    state = root / resume.STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    best = resume.KeepBest(settings, resume.STATE_DIR / resume.HISTORY,
                           read=resume.STATE_DIR / resume.BEST_WEIGHTS, write=state / resume.BEST_WEIGHTS)
    best.replay()
    train, validation = splits["train"], splits["validation"]
    steps = steps_per_epoch(len(train), "train", batch_size, replicas)
    balanced = settings["balance"] == "class_weights"
    weights = class_weights(np.asarray(train.labels), model.config.num_labels) if balanced else None
    watched = [WatchSets(settings["watch_sets"], Classifier(model, AutoFeatureExtractor.from_pretrained(FEATURES_DIR)),
                         batch_size)] if settings["watch_sets"] else []
    model.fit(
        training_data(train, config, replicas, start * steps),
        steps_per_epoch=steps,
        validation_data=distribute.shardable(batched(validation, batch_size, replicas)),
        validation_steps=steps_per_epoch(len(validation), "validation", batch_size, replicas),
        epochs=start if best.stopped else settings["epochs"],
        class_weight=weights,
        callbacks=[LearningRateLogger(), *watched, keras.callbacks.CSVLogger(str(state / resume.HISTORY), append=True),
                   resume.backup(), best],
        verbose=2,
    )
    return best


def save(model: keras.Model, config: dict[str, Any], splits: dict[str, Split], best: resume.KeepBest,
         root: Path) -> None:
    """Write the model, feature extractor and card, then the curves and their summary, under `root`."""
    rows = resume.read_history(root / resume.STATE_DIR / resume.HISTORY)
    curves = {name: [float(row[name]) for row in rows] for name in rows[0] if name != "epoch"}
    labels = list(model.config.id2label.values())
    with atomic.output_dir(root / MODEL_DIR) as out:
        model.save_pretrained(out)
        AutoFeatureExtractor.from_pretrained(FEATURES_DIR).save_pretrained(out)
        clips = {name: len(split) for name, split in splits.items()}
        (out / "README.md").write_text(card.render(config, labels, clips, curves))
    with atomic.output_file(root / HISTORY_FILE) as partial:
        shutil.copyfile(root / resume.STATE_DIR / resume.HISTORY, partial)
    summary = {"epochs": len(rows), "best_epoch": best.best_epoch + 1,
               **{name: round(values[-1], 6) for name, values in curves.items()}}
    with atomic.output_file(root / TRAINING_SUMMARY) as partial:
        partial.write_text(json.dumps(summary, indent=2) + "\n")


def main() -> None:
    """Train for `train.epochs`, resuming an interrupted run, and save the model, feature
    extractor and curves."""
    config = params.load()
    settings = config["train"]
    keras.utils.set_random_seed(config["seed"])
    keras.mixed_precision.set_global_policy(precision_policy(settings["mixed_precision"]))
    chosen = distribute.strategy(settings["strategy"])
    distribute.check(settings, chosen)
    print(f"train: {distribute.describe(chosen)}")
    labels = list(json.loads(LABELS_FILE.read_text())["id2label"].values())
    splits = {name: Split(FEATURES_DIR / name) for name in SPLITS}
    batches = steps_per_epoch(len(splits["train"]), "train", settings["batch_size"], chosen.num_replicas_in_sync)
    start = distribute.from_chief(chosen, lambda: resume.prepare(config))
    with chosen.scope():
        model = compiled(config, labels, batches)
    with distribute.output_root(chosen) as root:
        best = fit(model, config, splits, start, root)
        save(model, config, splits, best, root)
        resume.finish(root / resume.STATE_DIR)
    print(f"train: saved {MODEL_DIR} ({model.count_params():,} parameters)")


if __name__ == "__main__":
    run(main)
