"""Score a finished run again with other decoding settings, without training it again.

    python benchmarks/redecode.py RUN_DIR generate.length_penalty=0.6 [generate.beams=8 ...]

For the tasks that decode (``seq2seq``, ``caption``): reads ``RUN_DIR/config.yaml`` (the run's
resolved recipe), applies the ``generate.*`` overrides, prepares the data as the run did, loads
``RUN_DIR/model.keras`` and prints the task's validation and test scores, so decoding is tuned on
validation at the cost of decoding alone. The run folder is only read: the reports
(``examples.txt``) go to a temporary folder. The data must still be where the run read it
(``data.train=...`` files), and must give the vocabularies the saved model holds (checked).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a finished run folder (config.yaml, model.keras)")
    parser.add_argument("overrides", nargs="*", help="generate.<key>=<value> (decoding settings only)")
    args = parser.parse_args()
    for name in ("config.yaml", "model.keras"):
        if not (args.run / name).is_file():
            parser.error(f"{args.run / name}: not found (a finished run folder holds config.yaml and model.keras)")
    others = [o for o in args.overrides if not o.startswith("generate.") or "=" not in o]
    if others:
        parser.error(f"only generate.<key>=<value> overrides change decoding, received {others}")

    import keras
    from omegaconf import OmegaConf

    from tfseq import tasks
    from tfseq.train.run_folder import RunFolder

    config = OmegaConf.merge(OmegaConf.load(args.run / "config.yaml"), OmegaConf.from_dotlist(args.overrides))
    print("generate:", json.dumps(OmegaConf.to_container(config.generate)), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        task = tasks.task_class(str(config.task))(config, RunFolder(path=tmp))
        task.prepare()
        task.model = keras.saving.load_model(args.run / "model.keras")
        for name, attribute in (("source", "tokenizer"), ("target", "target_tokenizer")):
            ours, saved = (getattr(p, attribute, None) for p in (task.preprocessor, task.model.preprocessor))
            if ours is not None and ours.vocabularies != saved.vocabularies:
                raise SystemExit(
                    f"{args.run}: the data now gives another {name} vocabulary than the saved "
                    "model's (were the files changed?)"
                )
        metrics = task.evaluate()
    for split, scores in metrics.items():
        print(split, " ".join(f"{key}={value:.4f}" for key, value in scores.items()), flush=True)


if __name__ == "__main__":
    main()
