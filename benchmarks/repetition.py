"""Repetition control on a finished seq2seq run: BLEU beside how often the outputs loop.

    python benchmarks/repetition.py RUN_DIR [--settings "no_repeat_ngram_size=3" ...]

Reads ``RUN_DIR`` as ``redecode.py`` does (its ``config.yaml`` and ``model.keras``, the data where
the run read it) and decodes the validation and test sources again with the run's own sampler,
then with each setting added (default: no repeated 3-gram, no repeated 4-gram, repetition penalty
1.2, and both), printing per split: BLEU (sacrebleu), exact-match accuracy, and the share of
outputs that *loop*: that hold some word 3-gram twice (the "one word repeated ~60 times" failure)
or run to ``generate.max_length`` without ending. Validation chooses; test reports.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

DEFAULTS = [
    "no_repeat_ngram_size=3",
    "no_repeat_ngram_size=4",
    "repetition_penalty=1.2",
    "no_repeat_ngram_size=3 repetition_penalty=1.2",
]


def loops(tokens: list[str], max_length: int) -> bool:
    """Whether an output repeats a word 3-gram or never ended (``max_length`` tokens)."""
    words = "".join(tokens).replace("\u2581", " ").split() if any("\u2581" in t for t in tokens) else tokens
    grams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    return len(grams) != len(set(grams)) or len(tokens) >= max_length


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a finished seq2seq run folder (config.yaml, model.keras)")
    parser.add_argument(
        "--settings",
        nargs="*",
        default=DEFAULTS,
        help="each a space-separated list of generate keys=values to add to the run's sampler",
    )
    args = parser.parse_args()

    import keras
    from omegaconf import OmegaConf

    from tfseq import decoding, tasks
    from tfseq.train.run_folder import RunFolder
    from tfseq.train.scores import sequence_scores

    config = OmegaConf.load(args.run / "config.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        task = tasks.task_class(str(config.task))(config, RunFolder(path=tmp))
        task.prepare()
        model = keras.saving.load_model(args.run / "model.keras")
        if model.preprocessor.target_tokenizer.vocabularies != task.preprocessor.target_tokenizer.vocabularies:
            raise SystemExit(f"{args.run}: the data gives another vocabulary than the saved model's")
        base = {k: v for k, v in OmegaConf.to_container(config.generate).items() if k != "prompts"}
        length = int(base["max_length"])
        join = task.preprocessor.target_tokenizer.join
        print(f"run: {args.run}; sampler: {base}")
        print(f"{'setting':<45} {'split':<11} {'BLEU':>7} {'exact':>7} {'loops':>7}")
        for setting in ["(the run's)", *args.settings]:
            extra = (
                {}
                if setting.startswith("(")
                else {k: float(v) if "." in v else int(v) for k, v in (pair.split("=") for pair in setting.split())}
            )
            sampler = decoding.get(str(base["sampler"]), **{**base, **extra})
            for split in ("validation", "test"):
                frame = task.dataset.splits[split]
                first = {}
                for row, text in enumerate(frame["source"]):
                    first.setdefault(str(text), row)
                ids = model.translate_source_ids(task.features[split]["source"][list(first.values())], length, sampler)
                outputs = task.preprocessor.target_tokenizer.tokenize(model.texts(ids), truncate=False)
                scores = sequence_scores(task.references[split], dict(zip(first, outputs)), join=join)
                looping = sum(loops(tokens, length) for tokens in outputs) / max(len(outputs), 1)
                print(
                    f"{setting:<45} {split:<11} {scores['bleu']:>7.2f} {scores['accuracy']:>7.4f} {looping:>7.2%}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
