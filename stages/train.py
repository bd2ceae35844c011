"""Stage 4: fine-tune the classifier on the train split, validating every epoch.

Writes models/kws in the Hugging Face layout (config with id2label, TF weights, the
feature extractor's preprocessor_config.json) and metrics/training.csv for `dvc plots`.
"""

from __future__ import annotations

import json
import math
import tf_keras as keras
from transformers import AutoFeatureExtractor

from stages import atomic, augment, card, params
from stages.cli import run
from stages.features import Split
from stages.model import build
from stages.paths import FEATURES_DIR, HISTORY_FILE, LABELS_FILE, MODEL_DIR, TRAINING_SUMMARY


def learning_rate_schedule(peak: float, total_steps: int) -> keras.optimizers.schedules.LearningRateSchedule:
    """Linear warm-up over the first 10% of steps, then cosine decay: stable from random init."""
    warmup = max(1, math.ceil(total_steps * 0.1))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0, decay_steps=max(1, total_steps - warmup),
        warmup_target=peak, warmup_steps=warmup,
    )


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the learning rate at the end of each epoch to the logs, hence to training.csv."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        optimizer = self.model.optimizer
        rate = optimizer.learning_rate
        if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            rate = rate(optimizer.iterations)
        logs["learning_rate"] = float(keras.backend.get_value(rate))


def main() -> None:
    """Train for `train.epochs` and save the model, feature extractor and curves."""
    config = params.load()
    settings = config["train"]
    keras.utils.set_random_seed(config["seed"])
    labels = list(json.loads(LABELS_FILE.read_text())["id2label"].values())
    train_split, validation_split = Split(FEATURES_DIR / "train"), Split(FEATURES_DIR / "validation")
    steps = math.ceil(len(train_split) / settings["batch_size"]) * settings["epochs"]

    model = build(config["model"], labels)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate_schedule(settings["learning_rate"], steps)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=settings["jit_compile"],
    )
    with atomic.output_file(HISTORY_FILE) as history_file:
        # One repeated iterator for the whole run: tf-keras re-creating it at each epoch
        # stalled for ~40 s at some epoch starts (TF 2.21, 2-core CPU).
        history = model.fit(
            augment.augmented(
                train_split.dataset(settings["batch_size"], shuffle_seed=config["seed"]).repeat(),
                settings["augment"], config["seed"],
            ),
            steps_per_epoch=math.ceil(len(train_split) / settings["batch_size"]),
            validation_data=validation_split.dataset(settings["batch_size"]),
            epochs=settings["epochs"],
            callbacks=[LearningRateLogger(), keras.callbacks.CSVLogger(str(history_file))],
            verbose=2,
        )
        with atomic.output_dir(MODEL_DIR) as out:
            model.save_pretrained(out)
            AutoFeatureExtractor.from_pretrained(FEATURES_DIR).save_pretrained(out)
            clips = {name: len(split) for name, split in
                     (("train", train_split), ("validation", validation_split), ("test", Split(FEATURES_DIR / "test")))}
            (out / "README.md").write_text(card.render(config, labels, clips, history.history))
    last_epoch = {name: round(float(values[-1]), 6) for name, values in history.history.items()}
    with atomic.output_file(TRAINING_SUMMARY) as partial:
        partial.write_text(json.dumps({"epochs": len(history.epoch), **last_epoch}, indent=2) + "\n")
    print(f"train: saved {MODEL_DIR} ({model.count_params():,} parameters)")


if __name__ == "__main__":
    run(main)
