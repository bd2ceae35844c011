"""Where a training step's time goes, part by part, TensorFlow beside PyTorch:
`python -m bench.train_profile --config small|base|tiny`.

bench.train_step gives one number, the TF ÷ PyTorch step ratio; this says which part of
Wav2Vec2ForSequenceClassification makes it. For the conv feature encoder and each of its conv
layers, the feature projection, the positional conv embedding, each transformer layer, the whole
encoder and the head, it times forward + backward: the gradient of sum(output * a fixed random
cotangent) with respect to the part's weights and its input (not the raw audio, which training
does not differentiate either), in training mode. TF runs it inside a tf.function, as the train
step does; PyTorch runs the matching module of transformers' PyTorch model for the same config.
Then AdamW's update alone, the forward pass alone, and the full step (as `fit` takes it:
bench.train_step.fit_step, on the train stage's own `stages.train.compiled`, XLA off, against
zero_grad/backward/step). The two
frameworks take turns call by call, so load from other work on the machine hits both alike; the
table reports medians. Both get the same thread pools, set by bench.run.configure_threads.

Finding: the positional conv embedding (a grouped Conv1D) made TF's step slow. tf-keras runs
every grouped Conv1D through an XLA-compiled function, and XLA's CPU gradient of a grouped conv
takes seconds. Small model, batch 32, before the fix: pos_conv_embed fwd+bwd 10.9 s in
TF against 0.23 s in PyTorch, full step TF/PT 2.89. `stages.model` now replaces the layer's call
with one plain conv per group (`_positional_conv_as_plain_convs`); after: pos_conv_embed 52 ms,
full step TF/PT 0.37-0.38.

Then, for wav2vec2-base (batch 8, `--config base`), two parts were TF's alone: AdamW's update
(Keras spells Adam as a dozen element-wise ops, each a pass over 95M weights: 289 ms against
PyTorch's 148 ms) and the wide feature-encoder convs (oneDNN's gradient of the 512 → 512 conv
at 3,199 steps: 446 ms against 294 ms). `stages.optimization` now applies TF's fused Adam
kernel (82 ms) and `stages.model` runs convs of 256 or more input channels as framed matmuls
on CPUs (`_feature_conv`; that conv 182 ms); full step 1.94 s → 1.54 s. Also, the full step
is timed as `fit` takes it: `train_on_batch` built a one-batch dataset at every call and made
every third step or so 0.24 s slower.

Reproduce both sides:

    python -m bench.train_profile --config small                               # the fixed model
    python -m bench.train_profile --config small --upstream-positional-conv    # transformers' own call
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

# Read transformers' own call before `stages.model` (imported by the bench and stages modules
# below) replaces it: --upstream-positional-conv puts it back to time the slow path again.
from transformers.models.wav2vec2 import modeling_tf_wav2vec2 as tfw2v

UPSTREAM_POSITIONAL_CONV = tfw2v.TFWav2Vec2WeightNormConv1D.call

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
import torch  # noqa: E402
from transformers import Wav2Vec2ForSequenceClassification  # noqa: E402

from bench.project import labels, repo_params  # noqa: E402
from bench.run import configure_threads  # noqa: E402
from bench.sizes import BASE, SMALL, TINY  # noqa: E402
from bench.timing import median, seconds  # noqa: E402
from bench.train_step import fit_step  # noqa: E402
from stages import train  # noqa: E402
from stages.audio import SAMPLE_RATE  # noqa: E402
from stages.model import _positional_conv_as_plain_convs  # noqa: E402

CASES = {"small": (SMALL, 32), "base": (BASE, 8), "tiny": (TINY, 4)}
"""Model config and default batch: bench.train_step's cases, and the tests' tiny model."""


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.train_profile", description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CASES), default="small")
    parser.add_argument("--batch", type=int, help="clips per batch (default: small 32, base 8, tiny 4)")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per framework and part (default: %(default)s)")
    parser.add_argument("--step-repeats", type=int, default=5,
                        help="timed full steps and forwards per framework (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="intra- and inter-op threads for both frameworks (default: %(default)s, as bench.run)")
    parser.add_argument("--only", nargs="+", metavar="PART", help="time only the parts whose names start with these")
    parser.add_argument("--no-components", action="store_true", help="time the full step only")
    parser.add_argument("--upstream-positional-conv", action="store_true",
                        help="use transformers' own TFWav2Vec2WeightNormConv1D.call (the slow XLA grouped conv) "
                             "instead of stages.model's plain convs")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    return parser.parse_args(argv)


def use_positional_conv(upstream: bool) -> str:
    """Install transformers' or stages.model's positional conv call; return its qualified name.

    Checks that the switch took: the upstream call must be transformers' own function and differ
    from the fix, else the "before" profile would silently time the fixed model.
    """
    assert UPSTREAM_POSITIONAL_CONV.__module__ == tfw2v.__name__, "read after stages.model patched it"
    assert UPSTREAM_POSITIONAL_CONV is not _positional_conv_as_plain_convs
    chosen = UPSTREAM_POSITIONAL_CONV if upstream else _positional_conv_as_plain_convs
    tfw2v.TFWav2Vec2WeightNormConv1D.call = chosen
    assert tfw2v.TFWav2Vec2WeightNormConv1D.call is chosen
    return f"{chosen.__module__}.{chosen.__qualname__}"


def models(case_config: dict[str, Any]) -> tuple[keras.Model, torch.nn.Module, torch.optim.Optimizer]:
    """The train stage's compiled TF model (as bench.train_step builds it, XLA off, no layerdrop
    or SpecAugment, which PyTorch would apply differently) and PyTorch's for the same config."""
    config = repo_params({"model.config": case_config, "model.layerdrop": 0.0, "model.mask_time_prob": 0.0,
                          "train.jit_compile": False})
    keras.utils.set_random_seed(0)
    torch.manual_seed(0)
    model = train.compiled(config, labels(config), batches=1000)
    pt = Wav2Vec2ForSequenceClassification(copy.deepcopy(model.config))
    pt.train()
    optimizer = torch.optim.AdamW(pt.parameters(), lr=config["train"]["learning_rate"],
                                  weight_decay=config["train"]["weight_decay"])
    return model, pt, optimizer


def side_by_side(actions: dict[str, Callable[[], object]], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds of each action, the actions taking turns so that load hits all alike.
    Warm-up calls first, so tracing and one-off allocations are not timed."""
    for _ in range(warmup):
        for action in actions.values():
            action()
    times: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(repeats):
        for name, action in actions.items():
            times[name].append(seconds(action))
    return {name: median(values) for name, values in times.items()}


@dataclass
class Part:
    """One part of the model in both frameworks, with the input each sees (TF channels last)."""

    name: str
    tf_fn: Callable[[tf.Tensor], tf.Tensor]
    tf_variables: list[tf.Variable]
    tf_input: np.ndarray
    pt_fn: Callable[[torch.Tensor], torch.Tensor]
    pt_module: torch.nn.Module
    pt_input: np.ndarray
    input_grad: bool = True


def parts(model: keras.Model, pt: torch.nn.Module, batch: int, rng: np.random.Generator) -> list[Part]:
    """Every timed part, each on random input of the shape it sees in the model."""
    tf_main, pt_main, config = model.wav2vec2, pt.wav2vec2, model.config
    audio = rng.standard_normal((batch, SAMPLE_RATE)).astype(np.float32)
    fe_tf, fe_pt = tf_main.feature_extractor, pt_main.feature_extractor
    found = [Part("feature_encoder", lambda x: fe_tf(x, training=True), fe_tf.trainable_variables, audio,
                  fe_pt, fe_pt, audio, input_grad=False)]
    h = tf.expand_dims(tf.constant(audio), -1)
    for i, (layer_tf, layer_pt) in enumerate(zip(fe_tf.conv_layers, fe_pt.conv_layers)):
        x_tf = h.numpy() if i == 0 else rng.standard_normal(h.shape).astype(np.float32)
        x_pt = np.ascontiguousarray(np.transpose(x_tf, (0, 2, 1)))
        found.append(Part(f"conv{i} (k{config.conv_kernel[i]} s{config.conv_stride[i]} "
                          f"{x_tf.shape[2]}→{config.conv_dim[i]}, T {x_tf.shape[1]})",
                          layer_tf, layer_tf.trainable_variables, x_tf, layer_pt, layer_pt, x_pt, input_grad=i > 0))
        h = layer_tf(h)
    features = rng.standard_normal(h.shape).astype(np.float32)
    hidden = rng.standard_normal((batch, h.shape[1], config.hidden_size)).astype(np.float32)
    fp_tf, fp_pt = tf_main.feature_projection, pt_main.feature_projection
    enc_tf, enc_pt = tf_main.encoder, pt_main.encoder
    found.append(Part("feature_projection", lambda x: fp_tf(x, training=True)[0], fp_tf.trainable_variables,
                      features, lambda x: fp_pt(x)[0], fp_pt, features))
    found.append(Part(f"pos_conv_embed (k{config.num_conv_pos_embeddings} g{config.num_conv_pos_embedding_groups})",
                      enc_tf.pos_conv_embed, enc_tf.pos_conv_embed.trainable_variables, hidden,
                      enc_pt.pos_conv_embed, enc_pt.pos_conv_embed, hidden))
    for i, (layer_tf, layer_pt) in enumerate(zip(enc_tf.layer, enc_pt.layers)):
        found.append(Part(f"transformer layer {i}", lambda x, layer=layer_tf: layer(x, training=True)[0],
                          layer_tf.trainable_variables, hidden, lambda x, layer=layer_pt: layer(x)[0], layer_pt, hidden))
    found.append(Part("encoder (pos conv + all layers)", lambda x: enc_tf(x, training=True)[0],
                      enc_tf.trainable_variables, hidden, lambda x: enc_pt(x)[0], enc_pt, hidden))
    found.append(Part("head (projector, mean, classifier)",
                      lambda x: model.classifier(tf.reduce_mean(model.projector(x), axis=1)),
                      model.projector.trainable_variables + model.classifier.trainable_variables, hidden,
                      lambda x: pt.classifier(pt.projector(x).mean(dim=1)),
                      torch.nn.ModuleList([pt.projector, pt.classifier]), hidden))
    return found


def tf_fwd_bwd(part: Part, cotangent: np.ndarray) -> Callable[[], object]:
    """fwd + bwd of sum(part(x) * cotangent) inside a tf.function, as the train step runs it."""
    x, cot, variables = tf.constant(part.tf_input), tf.constant(cotangent), list(part.tf_variables)

    @tf.function
    def step(inputs: tf.Tensor) -> list[tf.Tensor]:
        with tf.GradientTape() as tape:
            if part.input_grad:
                tape.watch(inputs)
            loss = tf.reduce_sum(part.tf_fn(inputs) * cot)
        return tape.gradient(loss, ([inputs] if part.input_grad else []) + variables)

    return lambda: step(x)


def pt_fwd_bwd(part: Part, cotangent: np.ndarray) -> Callable[[], object]:
    """The same in PyTorch, gradients cleared first as zero_grad(set_to_none=True) does."""
    x, cot = torch.from_numpy(part.pt_input), torch.from_numpy(cotangent)
    parameters = [p for p in part.pt_module.parameters() if p.requires_grad]

    def step() -> None:
        for p in parameters:
            p.grad = None
        (part.pt_fn(x.detach().requires_grad_(part.input_grad)) * cot).sum().backward()

    return step


def row(name: str, med: dict[str, float]) -> dict[str, Any]:
    """A table row in milliseconds, printed as it is measured (a base-size run takes minutes)."""
    result = {"part": name, "tf_ms": 1000 * med["tf"], "pt_ms": 1000 * med["pt"], "ratio": med["tf"] / med["pt"]}
    print(f"{name:<44} TF {result['tf_ms']:9.1f} ms   PT {result['pt_ms']:9.1f} ms   TF/PT {result['ratio']:5.2f}",
          flush=True)
    return result


def time_parts(model: keras.Model, pt: torch.nn.Module, batch: int, repeats: int,
               only: list[str] | None) -> list[dict[str, Any]]:
    """One row per part (those named by --only, if given)."""
    rng = np.random.default_rng(1)
    rows = []
    for part in parts(model, pt, batch, rng):
        if only and not any(part.name.startswith(prefix) for prefix in only):
            continue
        shape_tf = tuple(part.tf_fn(tf.constant(part.tf_input)).shape)
        with torch.no_grad():
            shape_pt = tuple(part.pt_fn(torch.from_numpy(part.pt_input)).shape)
        actions = {"tf": tf_fwd_bwd(part, rng.standard_normal(shape_tf).astype(np.float32)),
                   "pt": pt_fwd_bwd(part, rng.standard_normal(shape_pt).astype(np.float32))}
        rows.append(row(part.name, side_by_side(actions, repeats)))
    return rows


def optimizer_update(model: keras.Model, pt: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     repeats: int) -> dict[str, Any]:
    """AdamW's update alone, on fixed small gradients: what the step spends outside fwd + bwd."""
    variables = model.trainable_variables
    rng = np.random.default_rng(2)
    grads = [tf.constant(rng.standard_normal(v.shape).astype(np.float32) * 1e-3) for v in variables]
    tf_update = tf.function(lambda: model.optimizer.apply_gradients(zip(grads, variables)))
    for p in pt.parameters():
        if p.requires_grad:
            p.grad = torch.randn_like(p) * 1e-3
    return row("optimizer update (AdamW) alone", side_by_side({"tf": tf_update, "pt": optimizer.step}, repeats))


def full_step(model: keras.Model, pt: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: int,
              repeats: int) -> list[dict[str, Any]]:
    """The forward pass alone (training mode), then the full step as bench.train_step times it."""
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((batch, SAMPLE_RATE)).astype(np.float32)
    targets = rng.integers(model.config.num_labels, size=batch).astype(np.int32)
    features, truth = {"input_values": tf.constant(inputs)}, tf.constant(targets)
    pt_x, pt_y = torch.from_numpy(inputs), torch.from_numpy(targets).long()
    tf_forward = tf.function(lambda: model(features, training=True).logits)

    def pt_forward() -> None:
        with torch.no_grad():
            pt(input_values=pt_x)

    def pt_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        pt(input_values=pt_x, labels=pt_y).loss.backward()
        optimizer.step()

    forward = row("forward only (training mode)",
                  side_by_side({"tf": lambda: tf_forward().numpy(), "pt": pt_forward}, repeats))
    step = row("FULL STEP (fit's train function vs PT step)",
               side_by_side({"tf": fit_step(model, features, truth), "pt": pt_step}, repeats))
    return [forward, step]


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    configure_threads(args.threads)
    positional_conv = use_positional_conv(args.upstream_positional_conv)
    case_config, default_batch = CASES[args.config]
    batch = args.batch or default_batch
    print(f"config {args.config}, batch {batch}, threads TF {tf.config.threading.get_intra_op_parallelism_threads()}/"
          f"{tf.config.threading.get_inter_op_parallelism_threads()} PyTorch {torch.get_num_threads()}/"
          f"{torch.get_num_interop_threads()}, positional conv {positional_conv}", flush=True)
    model, pt, optimizer = models(case_config)
    rows = []
    if not args.no_components:
        rows += time_parts(model, pt, batch, args.repeats, args.only)
        rows.append(optimizer_update(model, pt, optimizer, args.repeats))
    rows += full_step(model, pt, optimizer, batch, args.step_repeats)
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"config": args.config, "batch": batch, "threads": args.threads,
                       "positional_conv": positional_conv, "rows": rows}, file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
