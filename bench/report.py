"""results.json (for machines: the headline keys first, then every measurement) and
RESULTS.md (for people: the same as tables, with what each figure means)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

JSON = "results.json"
MARKDOWN = "RESULTS.md"


def headline(benchmarks: dict[str, Any]) -> dict[str, Any]:
    """The figures tracked run to run; None where the benchmark did not run or failed."""
    train = benchmarks.get("train_step", {})
    repro = benchmarks.get("repro", {})
    timed = repro.get("timed", {})
    return {
        "train_step_ratio_base": train.get("base", {}).get("ratio"),
        "train_step_ratio_small": train.get("small", {}).get("ratio"),
        "preprocess_speedup_vs_seed": benchmarks.get("preprocess", {}).get("speedup_vs_seed"),
        "memory_ratio_50k_over_5k": benchmarks.get("memory", {}).get("ratio"),
        "noop_repro_s": benchmarks.get("noop_repro", {}).get("noop_s"),
        "repro_wall_s": timed.get("wall_s", repro.get("passed_wall_s")),
        "repro_accuracy": timed.get("accuracy", repro.get("committed", {}).get("accuracy")),
    }


def write(out: Path, record: dict[str, Any]) -> None:
    """Write both files into `out`."""
    document = {**headline(record["benchmarks"]), **record}
    (out / JSON).write_text(json.dumps(document, indent=2) + "\n")
    (out / MARKDOWN).write_text(markdown(document))


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table; None shows as a dash."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("–" if value is None else str(value) for value in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def cell(value: Any) -> Any:
    """A headline value for a table: a mapping as `key value, …`."""
    return ", ".join(f"{key} {item}" for key, item in value.items()) if isinstance(value, dict) else value


def duration(value: float | None) -> str | None:
    """Seconds as `123 ms` or `12.3 s`."""
    return None if value is None else f"{1000 * value:.0f} ms" if value < 10 else f"{value:.1f} s"


def train_section(result: dict[str, Any]) -> str:
    rows, parts = [], []
    for name, case in result.items():
        config = case["config"]
        layers = config["num_hidden_layers"]
        shape = (f"hidden {config['hidden_size']}, {layers} layer{'s' * (layers != 1)}, "
                 f"conv {config['conv_dim'][0]}×{len(config['conv_dim'])}")
        step, forward, rest = case["step_s"], case["forward_s"], case["backward_and_update_s"]
        rows.append([name, shape, f"{max(case['parameters'].values()):,}", case["batch"], duration(step.get("tf")),
                     duration(step.get("tf_xla")), duration(step.get("pytorch")), case["ratio"]])
        for variant in step:
            parts.append([name, variant, duration(forward[variant]), duration(rest[variant])])
    errors = [f"- {name}, {variant}: {error}" for name, case in result.items() for variant, error in case["errors"].items()]
    first = next(iter(result.values()))
    return (
        "## 1. Train step: TensorFlow ÷ PyTorch\n\n"
        f"Median of {first['steps_timed']} steps after {first['warmup_steps']} warm-up steps, batches of 1 s clips, random init, "
        "layerdrop 0, SpecAugment off. TF is compiled by the train stage's own `stages.train.compiled` and stepped as "
        "`fit` steps it (its train function on one tf.data iterator; `train_on_batch` builds a dataset per call); PyTorch is `Wav2Vec2ForSequenceClassification` with AdamW "
        f"(attention: {first['pytorch_attention']}). The ratio uses TF's faster variant.\n\n"
        + table(["config", "shape", "parameters", "batch", "TF", "TF + XLA", "PyTorch", "TF best ÷ PyTorch"], rows)
        + "\nWhere the time goes (forward in training mode without gradients; the rest of the step is backward + update):\n\n"
        + table(["config", "variant", "forward", "backward + update"], parts)
        + ("\n" + "\n".join(errors) + "\n" if errors else "")
    )


def preprocess_section(result: dict[str, Any]) -> str:
    rows = [[name, f"{result['seconds'][name]:.2f} s", result["clips_per_s"][name]] for name in result["seconds"]]
    return (
        "## 2. Preprocess throughput: ours vs the seed recipe's `datasets.map`\n\n"
        f"{result['clips']:,} clips of 1 s, WAV on disk → arrays; median of {result['repeats']} runs. Ours "
        f"(`stages.preprocess.write_split`, to .npy files) decodes, normalises and writes in {result['ours_processes']} "
        "worker processes. The seed recipe's map runs in one process as the recipe does, and with "
        f"`num_proc` = the cores. Largest difference between the ways' arrays: {result['max_abs_difference']}. "
        "Where the time goes, each part alone in one process: `floor` writes the same input_values file from memory "
        "(no way can be faster), `decode_alone` decodes every clip with soundfile, `extractor_alone` runs the feature "
        "extractor on decoded clips.\n\n"
        + table(["way", "time", "clips/s"], rows)
        + f"\n`preprocess_speedup_vs_seed` (seed in one process ÷ ours): **{result['speedup_vs_seed']}**; "
        f"the most any way could reach, seed ÷ floor: {result.get('speedup_bound')}; the most a way using soundfile and "
        f"the feature extractor could reach on {result['ours_processes']} cores, seed × cores ÷ (decode + extractor): "
        f"{result.get('speedup_bound_with_these_libraries')}\n"
    )


def memory_section(result: dict[str, Any]) -> str:
    few, many = (str(clips) for clips in result["clips"])
    rows = [
        [stage, result["stages"][few][stage]["peak_rss_mib"], result["stages"][many][stage]["peak_rss_mib"],
         result["ratio"][stage], result["stages"][few][stage]["peak_anon_mib"],
         result["stages"][many][stage]["peak_anon_mib"], result["anon_ratio"][stage],
         f"{result['stages'][few][stage]['wall_s']} / {result['stages'][many][stage]['wall_s']}"]
        for stage in result["ratio"]
    ]
    return (
        f"## 3. Peak memory: {int(few):,} vs {int(many):,} clips\n\n"
        "Each stage as `dvc repro` runs it, in a scratch project (the tests' tiny model, one epoch, 1 s clips). Peak "
        "RSS is the kernel's `ru_maxrss` of the stage's process (any file pages it maps count in it; the stages "
        "read and write the feature arrays with plain file IO, so none stay mapped). Peak anonymous memory (RssAnon, "
        "sampled every 0.1 s) is what the stage itself allocated.\n\n"
        + table(["stage", f"peak RSS, {few} (MiB)", f"{many}", "ratio", f"anon, {few} (MiB)", f"{many}", "ratio",
                 "wall time (s)"], rows)
    )


def noop_section(result: dict[str, Any]) -> str:
    return (
        f"## 4. No-op `dvc repro`, {result['clips']:,} clips\n\n"
        "A scratch git + DVC repository: data/raw laid out directly and recorded with `dvc commit download` "
        f"({result['dvc_commit_download_s']} s), then {', '.join(result['materialise_ran'])} run for real by "
        f"`dvc repro` ({result['materialise_s']} s) and committed. A `dvc repro` with nothing changed: median of "
        f"{result['repeats']}, **{result['noop_s']:.2f} s** (all: {', '.join(f'{s:.2f}' for s in result['noop_s_all'])}).\n"
    )


def predict_section(result: dict[str, Any]) -> str:
    rows = []
    for name, config in result["configs"].items():
        for way in config["latency_ms"]:
            rows.append([name, f"{config['parameters']:,}", way, config["latency_ms"][way],
                         config["throughput_clips_per_s"][way], f"{config['max_abs_difference_vs_keras'][way]:.1e}"])
    notes = "; ".join(f"{name}: SavedModel export {config['saved_model_export_s']} s, TFLite conversion "
                      f"{config['tflite_convert_s']} s, {config['tflite_bytes']:,} bytes" for name, config in result["configs"].items())
    return (
        "## 5. Predict: Keras vs SavedModel vs TFLite (float)\n\n"
        "Waveform in, probabilities out, each way doing all of the work (Keras: `stages.inference.Classifier`, the "
        "feature extractor in numpy, the model through a traced `tf.function`, as predict does; SavedModel and TFLite: the export "
        f"stage's graph). Latency: median of single 1 s clips; throughput: batches of {result['batch']}.\n\n"
        + table(["config", "parameters", "way", "latency (ms)", "clips/s", "max |Δp| vs Keras"], rows)
        + f"\n{notes}.\n"
    )


def repro_section(result: dict[str, Any]) -> str:
    committed = result["committed"]
    text = (
        "## 6. The default pipeline (`make repro`'s `dvc repro`)\n\n"
        f"Committed metrics (`{committed['commit']}`): accuracy {committed['accuracy']:.4f}, macro F1 "
        f"{committed['macro_f1']:.4f} on {committed['clips']} test clips"
        + (" (the working tree's metrics.json differs)" if committed["working_tree_differs"] else "") + ". "
        + (f"Wall time passed in: {result['passed_wall_s']} s. " if result["passed_wall_s"] is not None
           else "No wall time passed in (`make bench BENCH_REPRO_S=<seconds>`). ")
    )
    timed = result.get("timed")
    if timed:
        text += (f"\n\nTimed from scratch here (`--repro`), stage by stage: **{timed['wall_s']} s** "
                 f"({', '.join(f'{stage} {s} s' for stage, s in timed['stage_s'].items())}); accuracy "
                 f"{timed['accuracy']:.4f}, macro F1 {timed['macro_f1']:.4f}.")
    else:
        text += "Not timed here (`make bench BENCH_REPRO=1` runs it from scratch in a copy, ~7 minutes)."
    return text + "\n"


SECTIONS = {"train_step": train_section, "preprocess": preprocess_section, "memory": memory_section,
            "noop_repro": noop_section, "predict": predict_section, "repro": repro_section}


def markdown(document: dict[str, Any]) -> str:
    """RESULTS.md."""
    machine = document["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    parts = [
        "# Benchmark results\n\n"
        + ("**Size tiny: these figures only show that the benchmarks run; they measure nothing.**\n\n"
           if document["size"] == "tiny" else "")
        + f"`{document['command']}` (size {document['size']}), started {document['started']}, "
        f"{document.get('duration_s', 0):.0f} s. Written by `bench/run.py`; `results.json` holds the same and every "
        "single measurement.\n\n"
        f"Machine: {machine['cpu_model']}, {machine['logical_cpus']} logical CPUs ({machine['physical_cores']} cores), "
        f"{machine['memory_gib']} GiB, {machine['platform']}; {document['threads']} intra- and inter-op threads for "
        f"TensorFlow and PyTorch. Load average at the start {machine['load_average']}, at the end "
        f"{document.get('load_average_end')}. Git {machine['git']}.\n\n{versions}.\n",
        "## Headline\n\n" + table(["key", "value"], [[f"`{key}`", cell(value)] for key, value in headline(document["benchmarks"]).items()]),
    ]
    for name in [name for name in SECTIONS if name in document["benchmarks"]]:
        section = SECTIONS[name](document["benchmarks"][name])
        if name in document.get("earlier", {}):
            origin = document["earlier"][name]
            title, _, body = section.partition("\n\n")
            section = f"{title}\n\n*Carried over from an earlier run: `{origin['command']}`, started {origin['started']}, git {origin['git']}.*\n\n{body}"
        parts.append(section)
    if document["errors"]:
        parts.append("## Errors\n\n" + "\n".join(f"### {name}\n\n```\n{error}```\n" for name, error in document["errors"].items()))
    return "\n".join(parts)
