"""Write a trained TF model as a PyTorch checkpoint, for transformers' PyTorch-only tools.

The output directory loads with a plain `AutoModelForAudioClassification.from_pretrained(DIR)`
(and so in the audio-classification pipeline) and gives the TF model's logits. transformers
4.57.6 cannot load the TF directory itself: `from_pretrained(DIR, from_tf=True)` fails with
"Tensor on device meta is not on the expected device cpu!" (transformers issue 37786). So the
PyTorch model is built from the config on the CPU and the TF weights are copied into it.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from transformers import AutoModelForAudioClassification, TFAutoModelForAudioClassification
from transformers.feature_extraction_utils import FEATURE_EXTRACTOR_NAME
from transformers.modeling_tf_pytorch_utils import load_tf2_model_in_pytorch_model

from stages import atomic
from stages.cli import run
from stages.errors import PipelineError


def to_pytorch(model_dir: Path, out_dir: Path) -> None:
    """Write `model_dir`'s TF model to `out_dir` as PyTorch safetensors, with its feature extractor.

    Refuses a conversion that would leave any PyTorch weight uninitialised or any TF weight
    unused: the result must be the same model, not a partly random one.
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    for name in ("config.json", FEATURE_EXTRACTOR_NAME):
        if not (model_dir / name).is_file():
            raise PipelineError(f"{model_dir}: no {name} here: not a trained model directory")
    tf_model = TFAutoModelForAudioClassification.from_pretrained(model_dir)
    pt_model = AutoModelForAudioClassification.from_config(tf_model.config)
    pt_model, info = load_tf2_model_in_pytorch_model(pt_model, tf_model, output_loading_info=True)
    left_out = info["missing_keys"] + info["unexpected_keys"]
    if left_out:
        raise PipelineError(f"{model_dir}: weights without a PyTorch counterpart: {', '.join(left_out)}")
    with atomic.output_dir(out_dir) as out:
        pt_model.save_pretrained(out, safe_serialization=True)
        shutil.copy2(model_dir / FEATURE_EXTRACTOR_NAME, out / FEATURE_EXTRACTOR_NAME)


def main(argv: list[str] | None = None) -> None:
    """Convert MODEL_DIR (a TF `save_pretrained` directory) into OUT_DIR."""
    parser = argparse.ArgumentParser(prog="python -m stages.pytorch", description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="TF model directory, e.g. models/kws")
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="directory to write the PyTorch model to")
    args = parser.parse_args(argv)
    to_pytorch(args.model_dir, args.out_dir)
    print(f"pytorch: {args.out_dir}: AutoModelForAudioClassification.from_pretrained({str(args.out_dir)!r})")


if __name__ == "__main__":
    run(main)
