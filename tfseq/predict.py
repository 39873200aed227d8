"""``tfseq-predict``: an export (SavedModel, TFLite or preset) answers raw text, printed or written."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path

from tfseq.console import UsageError, one_line, start_tensorflow

DESCRIPTION = """\
Run an exported tfseq model (a SavedModel or TFLite export folder, or a folder of versions such
as saved_models/classify-reviews-zh, whose newest is used; or a preset folder written by
save_to_preset) on raw text. To score a labelled file, use tfseq-evaluate."""


def parser():
    import argparse

    parser = argparse.ArgumentParser(
        prog="tfseq-predict", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "export",
        help="an export (SavedModel or TFLite), its folder of versions "
        "(saved_models/<name>, saved_models/<name>-tflite), or a preset folder",
    )
    parser.add_argument(
        "text", nargs="*", help="texts to classify, tag, transform (seq2seq), or continue and score (language models)"
    )
    parser.add_argument(
        "--file",
        help="CSV/TSV/JSONL (or .txt, one text per line; a tagger also reads CoNLL "
        "columns, a sentence a block) to read texts from; - reads one text per line "
        "from standard input",
    )
    parser.add_argument(
        "--column",
        default="text",
        help="text column of --file (default: text); its other columns are carried into --output",
    )
    parser.add_argument(
        "--output",
        help="write predictions to this file instead of printing: .csv, .tsv, or "
        ".jsonl (JSON lines: a classifier's probabilities, a tagger's entity spans "
        "and a translation's n-best as lists)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an --output file that exists (without it, an existing file is refused)",
    )
    parser.add_argument(
        "--top-k",
        type=int,
        metavar="K",
        help="a classifier: the K most probable labels with "
        "their probabilities; a generator: sample among the "
        "K most likely tokens",
    )
    generation = parser.add_argument_group(
        "generation (seq2seq and language models; each left out: the export's own, from its training run)"
    )
    generation.add_argument(
        "--sampler", help="greedy, beam, sampling, or keras-hub's random, top_k (5 tokens), top_p (a nucleus of 0.1)"
    )
    generation.add_argument("--temperature", type=float, help="sampling: < 1 safer, > 1 more surprising")
    generation.add_argument("--top-p", type=float, help="sampling among the fewest tokens holding this probability")
    generation.add_argument("--max-length", type=int, help="most tokens to generate")
    generation.add_argument("--beams", type=int, help="beam search: sequences kept at each step")
    generation.add_argument("--n-best", type=int, help="answers per text, best first, with their scores")
    generation.add_argument(
        "--length-penalty",
        type=float,
        help="beam search: rank by log-probability / length ** this (0: plain likelihood)",
    )
    generation.add_argument(
        "--no-repeat-ngram-size", type=int, help="never generate an n-gram of this size twice (0: off)"
    )
    generation.add_argument(
        "--repetition-penalty", type=float, help="make tokens already generated less likely (1: off; 1.2 is common)"
    )
    parser.add_argument("--verbose", action="store_true", help="keep TensorFlow's start-up log lines")
    return parser


def generation_settings(args, declared: dict) -> dict:
    """The decoding settings given on the command line (checked), for an export's ``generate``;
    ``--top-k`` is one of them for a generating export (a classifier ranks labels with it)."""
    from tfseq import decoding

    given = {
        key: getattr(args, key) for key in decoding.SETTINGS if key != "top_k" and getattr(args, key, None) is not None
    }
    if args.top_k is not None and "generate_defaults" in declared:
        given["top_k"] = args.top_k
    if not given:
        return {}
    if "generate_defaults" not in declared:
        flag = "--" + next(iter(given)).replace("_", "-")
        raise UsageError(
            f"{flag}: {args.export} does not generate text with settings chosen at predict time "
            f"(a classifier or tagger; or an export written before tfseq 0.2: export it again)"
        )
    checks = {
        "sampler": (lambda v: v in decoding.NAMES, f"one of {', '.join(decoding.NAMES)}"),
        "temperature": (lambda v: v > 0, "a number > 0"),
        "top_k": (lambda v: v >= 1, "a whole number >= 1"),
        "top_p": (lambda v: 0 < v <= 1, "a number in (0, 1]"),
        "max_length": (lambda v: v >= 1, "a whole number >= 1"),
        "beams": (lambda v: v >= 1, "a whole number >= 1"),
        "n_best": (lambda v: v >= 1, "a whole number >= 1"),
        "length_penalty": (lambda v: True, "a number"),
        "no_repeat_ngram_size": (lambda v: 0 <= v <= decoding.MAX_NGRAM, f"0 to {decoding.MAX_NGRAM}"),
        "repetition_penalty": (lambda v: v > 0, "a number > 0 (1: off)"),
    }
    for key, value in given.items():
        ok, expected = checks[key]
        if not ok(value):
            raise UsageError(f"--{key.replace('_', '-')} {value}: expected {expected}")
    chosen = {**declared["generate_defaults"], **given}
    if chosen.get("sampler") == "beam" and chosen.get("n_best", 1) > chosen.get("beams", 1):
        raise UsageError(
            f"--n-best {chosen['n_best']}: beam search keeps {chosen['beams']} sequences; "
            f"pass --beams {chosen['n_best']} or more"
        )
    return given


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        from tfseq import presets
        from tfseq.export import latest_version

        if args.output:
            check_output(Path(args.output), args.overwrite)
        if args.top_k is not None and args.top_k < 1:
            raise UsageError(f"--top-k {args.top_k}: expected a whole number >= 1")
        preset = presets.is_preset(args.export)
        folder = Path(args.export) if preset else latest_version(args.export)
        declared = {} if preset else export_metadata(folder)
        texts, carried = read_inputs(args, declared)
        # A preset's defaults are known once it loads: its flags are checked here, applied there.
        settings = (
            generation_settings(args, declared)
            if not preset
            else generation_settings(argparse_copy(args, top_k=None), {"generate_defaults": {}})
        )
        if "top_k" in settings:
            args.top_k = None  # a generator's sampling setting, not a label ranking
        if not texts:
            raise UsageError("no text given: pass texts as arguments or --file")
        for module in declared.get("requires", []):  # ops the graph holds beyond TensorFlow's (SentencePiece)
            if importlib.util.find_spec(module) is None:
                raise UsageError(
                    f"{folder} needs the Python module {module}, which is not installed "
                    f"(pip install {module.replace('_', '-')})"
                )
    except (UsageError, FileNotFoundError, ValueError) as error:  # DataError is a ValueError
        print(f"tfseq-predict: error: {one_line(error)}", file=sys.stderr)
        return 2
    start_tensorflow(args.verbose)
    try:
        if preset:
            rows, names, show, sampled_top_k = answer_preset(folder, texts, settings, args.top_k)
            if sampled_top_k:
                args.top_k = None  # a generating preset took it as a sampling setting
        else:
            rows, names, show = answer(folder, texts, declared, settings)
        rows, names, show = with_choices(rows, names, show, args, declared)
        return write_answers(args, rows, names, show, carried)
    except (UsageError, OSError, presets.PresetError) as error:
        print(f"tfseq-predict: error: {one_line(error)}", file=sys.stderr)
        return 2


def read_inputs(args, declared: dict):
    """The texts to answer (the arguments, then ``--file``'s) and the file's other columns to carry
    into ``--output`` (a DataFrame, or None). A file of CoNLL columns is read as sentences by a
    tagger (its tokens joined by spaces) and refused by any other model, never read a line a text."""
    from tfseq.data import files

    texts, carried = list(args.text), None
    if args.file == "-":  # as a .txt file: one text per line, blank lines skipped
        return texts + files.text_lines(sys.stdin.read()), None
    if not args.file:
        return texts, None
    path = Path(args.file)
    if path.suffix.lower() not in files.TABLE_SUFFIXES and files.looks_like_conll(path):
        if "tags" not in declared and declared.get("answer") != "tags":
            raise UsageError(
                f"{path} looks like CoNLL columns (a token and its tags per line, a blank line between "
                f"sentences), and {args.export} answers text, not tokens: to score the file, run "
                f"tfseq-evaluate {args.export} {path}"
            )
        sentences = files.read_conll(path)["tokens"]
        print(f"tfseq-predict: read {path} as CoNLL columns: {len(sentences)} sentences", file=sys.stderr)
        return texts + [" ".join(tokens) for tokens in sentences], None
    if path.suffix.lower() in files.TABLE_SUFFIXES:
        frame = files.read_table(
            path, text_column=args.column, label_column=None, choose="--column <name>", keep_columns=True
        )
        carried = frame.drop(columns=["text"]) if len(frame.columns) > 1 else None
        if carried is not None and texts:  # texts given as arguments carry nothing
            import pandas as pd

            carried = pd.concat(
                [pd.DataFrame(index=range(len(texts)), columns=carried.columns), carried], ignore_index=True
            )
        return texts + frame["text"].tolist(), carried
    return texts + files.read_plain_text(path)["text"].tolist(), None


OUTPUT_FORMATS = (".csv", ".tsv", ".jsonl")


def check_output(path: Path, overwrite: bool) -> None:
    """Refuse, before any model loads, an ``--output`` that is a folder, has a format we do not
    write, or would silently replace a file (predictions a user already has) without ``--overwrite``."""
    if path.is_dir():
        raise UsageError(f"--output {path} is a folder; expected a file to write, e.g. {path / 'predictions.csv'}")
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise UsageError(
            f"--output {path}: expected a file ending in {', '.join(OUTPUT_FORMATS)}, "
            f"found {path.suffix or 'no extension'!r}"
        )
    if path.exists() and not overwrite:
        raise UsageError(f"--output {path} exists; pass --overwrite to replace it, or name another file")


def export_metadata(folder) -> dict:
    """``folder``'s ``tfseq.json``, checked: a damaged one is a one-line error naming it."""
    from tfseq.export import metadata

    try:
        declared = metadata(folder)
    except (ValueError, OSError) as error:
        raise UsageError(
            f"{folder / 'tfseq.json'}: not readable JSON ({one_line(error)}): the export is damaged; "
            f"export the model again, or use another version"
        ) from None
    if not isinstance(declared, dict):
        raise UsageError(
            f"{folder / 'tfseq.json'}: expected a JSON object: the export is damaged; export the "
            f"model again, or use another version"
        )
    return declared


def damaged(folder, error) -> UsageError:
    reason = one_line(error).split(" [Op:")[0]
    reason = reason if len(reason) <= 200 else reason[:200] + " ..."
    return UsageError(
        f"{folder}: cannot load this export ({reason}): it is damaged or incomplete; export the "
        f"model again, or use another version"
    )


def answer(folder, texts, declared, settings=None) -> tuple[list[dict], list[str], str | None]:
    """The export in ``folder``'s answers to ``texts``: rows (the text and its outputs), the
    output columns to write, and how to print one (its ``show`` pattern). ``settings``: decoding
    chosen at predict time, answered by the export's ``generate`` function."""
    import tensorflow as tf

    if settings and (folder / "model.tflite").exists():
        raise UsageError(
            f"{folder} is a TFLite export, which decodes as it was exported "
            f"({declared.get('generate', {})}); the SavedModel takes --sampler, --beams, ..."
        )
    if settings:
        return generated(folder, texts, declared, settings)
    if (folder / "model.tflite").exists():  # answered through the export's own preprocess.py rule
        from tfseq.tflite_app import Preprocessor, interpreter

        try:
            pre, runner = Preprocessor.load(folder), interpreter(folder)
            rows = [{"text": text, **pre.answer(runner, text, declared)} for text in texts]
        except (ValueError, RuntimeError, KeyError, OSError) as error:
            raise damaged(folder, error) from None
        return rows, declared["columns"], declared["show"]
    for module in declared.get("requires", []):
        importlib.import_module(module)  # registers the ops (found above)
    try:
        serve = tf.saved_model.load(str(folder)).signatures["serving_default"]
    except Exception as error:  # protobuf DecodeError, tf.errors.*, OSError, KeyError: all mean the same here
        raise damaged(folder, error) from None
    inputs = list(serve.structured_input_signature[1])
    if inputs != ["text"]:
        raise UsageError(
            f"{folder} takes {inputs}, not text: call it from Python, e.g. "
            f"tf.saved_model.load(path).signatures['serving_default']({inputs[0]}=...)"
        )
    try:
        outputs = serve(text=tf.constant(texts))
    except tf.errors.OpError as error:
        raise damaged(folder, error) from None
    return answer_rows(texts, outputs), declared.get("columns", list(outputs)), declared.get("show")


def generated(folder, texts, declared, settings) -> tuple[list[dict], list[str], str | None]:
    """``texts`` answered by the SavedModel's ``generate`` with ``settings`` (the rest its own)."""
    import tensorflow as tf

    for module in declared.get("requires", []):
        importlib.import_module(module)
    try:
        loaded = tf.saved_model.load(str(folder))  # held: its variables live as long as it does
        outputs = loaded.generate(tf.constant(texts), **settings)
    except tf.errors.OpError as error:
        raise damaged(folder, error) from None
    except (AttributeError, OSError, ValueError) as error:
        raise damaged(folder, error) from None
    rows = answer_rows(texts, outputs)
    n_best = int(settings.get("n_best", declared["generate_defaults"]["n_best"]))
    answer_name = "target" if "target" in outputs else "continuation"
    if n_best > 1:
        return rows, [answer_name, "n_best"], "{text}\t{n_best}"
    return rows, declared.get("columns", [answer_name]), declared.get("show")


def answer_rows(texts, outputs) -> list[dict]:
    """One row per text: the text and each output (strings decoded), as ``write_answers`` takes them;
    a tagger's padded ``span_*`` outputs become one ``spans`` list of dicts per text."""
    rows = [{"text": text} for text in texts]
    for name, values in outputs.items():
        for row, value in zip(rows, values.numpy()):
            row[name] = value.decode("utf-8") if isinstance(value, bytes) else value
    for row in rows:
        if "span_text" in row:
            fields = {key: row.pop(f"span_{key}") for key in ("text", "type", "start", "end", "score")}
            row["spans"] = [
                {
                    "text": text.decode("utf-8"),
                    "type": kind.decode("utf-8"),
                    "start": int(start),
                    "end": int(end),
                    "score": round(float(score), 4),
                }
                for text, kind, start, end, score in zip(*fields.values())
                if start >= 0
            ]
        many = "targets" if "targets" in row else "continuations" if "continuations" in row else None
        if many and "scores" in row:  # the n-best, in the order of the score shown: JSON's n_best
            row["n_best_list"] = [
                {"text": text.decode("utf-8") if isinstance(text, bytes) else text, "score": round(float(score), 4)}
                for text, score in zip(row.pop(many), row.pop("scores"))
            ]
    return rows


def argparse_copy(args, **changes):
    """``args`` with some values changed (a copy)."""
    import argparse

    return argparse.Namespace(**{**vars(args), **changes})


def answer_preset(folder, texts, settings=None, top_k=None):
    """Answer ``texts`` with the model of the preset ``folder`` (:mod:`tfseq.presets`), in this
    process, by its task's export answer: the same outputs and printing as its SavedModel
    (``settings``: decoding chosen at predict time, as its ``generate`` takes them; ``top_k``
    joins them for a generating model). Returns rows, columns, show, and whether ``top_k`` was
    taken as a sampling setting."""
    import types

    import tensorflow as tf

    from tfseq import decoding, presets

    model = presets.load(folder)
    serving = preset_serving(model, folder)
    module = types.SimpleNamespace(preprocessor=model.preprocessor, **serving.track)
    sampled_top_k = serving.generate is not None and top_k is not None
    settings = {**(settings or {}), **({"top_k": top_k} if sampled_top_k else {})}
    if settings:
        if serving.generate is None:
            raise UsageError(
                f"--{next(iter(settings)).replace('_', '-')}: {folder} holds a {type(model).__name__}, "
                f"which does not generate text"
            )
        chosen = {**serving.generate_defaults, **settings}
        if chosen["sampler"] == "beam" and chosen["n_best"] > chosen["beams"]:
            raise UsageError(
                f"--n-best {chosen['n_best']}: beam search keeps {chosen['beams']} sequences; "
                f"pass --beams {chosen['n_best']} or more"
            )
        outputs = serving.generate(
            module,
            tf.constant(texts),
            **{key: tf.constant(value, getattr(tf, decoding.SETTINGS[key])) for key, value in chosen.items()},
        )
        name = "target" if "target" in outputs else "continuation"
        rows = answer_rows(texts, outputs)
        if chosen["n_best"] > 1:
            return rows, [name, "n_best"], "{text}\t{n_best}", sampled_top_k
        return rows, list(serving.columns) or [name], serving.show, sampled_top_k
    outputs = serving.answer(module, text=tf.constant(texts))
    labels = getattr(model.preprocessor, "labels", None)
    rows = answer_rows(texts, outputs)
    if labels is not None:
        rows = [{**row, "labels": list(labels)} for row in rows]
    return rows, list(serving.columns) or list(outputs), serving.show, False


def with_choices(rows, names, show, args, declared):
    """Rows with a classifier's ``probabilities`` as ``{label: p}`` (and, with ``--top-k K``, its
    K best as ``top_k``: ``[{label, score}]``, also shown and written as columns)."""
    labels = declared.get("labels")
    for row in rows:
        row_labels = row.pop("labels", None) or labels
        if "probabilities" in row and row_labels:
            p = [float(x) for x in row["probabilities"]]
            row["probabilities"] = {label: round(x, 6) for label, x in zip(row_labels, p)}
            if args.top_k:
                best = sorted(range(len(p)), key=lambda i: -p[i])[: args.top_k]
                row["top_k"] = [{"label": row_labels[i], "score": round(p[i], 4)} for i in best]
                row["best"] = " | ".join(f"{row_labels[i]} ({p[i]:.3f})" for i in best)
    if args.top_k and rows and "top_k" in rows[0]:
        show = "{best}\t{text}"
    elif args.top_k and rows and "top_k" not in rows[0]:
        raise UsageError(
            f"--top-k {args.top_k}: this export answers no label probabilities (a classifier's labels are ranked by it)"
        )
    return rows, names, show


def preset_serving(model, folder):
    """The export answer of ``model``'s task (the registered task whose ``model_class`` it is,
    the most derived first), with that task's defaults."""
    from tfseq import tasks

    owners = [tasks.task_class(name) for name in tasks.TASKS]
    owners = [task for task in owners if task.model_class is not None and isinstance(model, task.model_class)]
    owners.sort(key=lambda task: -len(task.model_class.__mro__))
    serving = owners[0].preset_serving(model) if owners else None
    if serving is None:
        raise UsageError(f"{folder} holds a {type(model).__name__}, which does not answer text: call it from Python")
    return serving


def write_answers(args, rows, names, show, carried=None) -> int:
    """Print each row by the export's ``show`` pattern, or write ``--output``: a ``.jsonl`` file
    gets one JSON object a text (a classifier's ``probabilities``, a tagger's ``spans`` and an
    n-best list as JSON), a table (``.csv``, ``.tsv``) the columns, with ``--top-k``'s labels and
    scores as ``label_1``, ``score_1``, ... Either way the input file's other columns (``carried``)
    come first, and an answer named like one of them is written as ``predicted_<name>``."""
    if not args.output:
        show = show or "\t".join(f"{{{name}}}" for name in ["text", *names])
        print("\n".join(shown(show, row) for row in rows))
        return 0
    from tfseq.train.run_folder import atomic_write

    inputs = [] if carried is None else list(carried.columns)
    given = [dict(zip(inputs, values)) for values in carried.itertuples(index=False)] if inputs else [{}] * len(rows)

    def named(key):
        return f"predicted_{key}" if key in inputs else key

    suffix = Path(args.output).suffix.lower()
    if suffix == ".jsonl":
        extra = [key for key in ("probabilities", "top_k", "spans", "n_best_list") if rows and key in rows[0]]
        keep = ["text", *[name for name in names if name not in extra and name != "n_best"], *extra]
        lines = [
            json.dumps(
                {
                    **{k: plain(v) for k, v in before.items()},
                    **{named(k.removesuffix("_list")): plain(row[k]) for k in keep},
                },
                ensure_ascii=False,
            )
            for before, row in zip(given, rows)
        ]
        atomic_write(args.output, "".join(line + "\n" for line in lines))
    else:
        import pandas as pd

        table = [
            {
                **before,
                **{named(k): row[k] for k in ["text", *names]},
                **{
                    f"{kind}_{n}": choice[kind]
                    for n, choice in enumerate(row.get("top_k", []), 1)
                    for kind in ("label", "score")
                },
            }
            for before, row in zip(given, rows)
        ]
        atomic_write(args.output, pd.DataFrame(table).to_csv(index=False, sep="\t" if suffix == ".tsv" else ","))
    print(f"wrote {len(rows)} prediction{'' if len(rows) == 1 else 's'} to {args.output}")
    return 0


def shown(show: str, row: dict) -> str:
    """One answer as printed by the export's ``show`` pattern, line by line: the first line
    always (an empty text's answer may be empty); a later line whose fields are all empty (a
    tagger's entity line when it found none) is left out. What a field holds is printed as it is
    (a language model's continuation keeps its blank lines)."""
    import string

    lines = show.split("\n")
    kept = []
    for number, line in enumerate(lines):
        fields = [name for _, name, _, _ in string.Formatter().parse(line) if name]
        if number and fields and not any(str(row.get(name, "")).strip() for name in fields):
            continue
        kept.append(line.format(**row))
    return "\n".join(kept)


def plain(value):
    """A JSON-ready value: numpy numbers and arrays as Python's, pandas' missing value as null."""
    if hasattr(value, "tolist"):
        return value.tolist()
    try:
        import pandas as pd

        return None if not isinstance(value, (list, dict, str)) and pd.isna(value) else value
    except (TypeError, ValueError):
        return value
