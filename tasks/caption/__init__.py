"""One-to-many: image captioning.

:class:`~tfseq.models.Captioner` on a task recipe (``tasks/caption/caption.yaml``): the built-in
``digits-captions`` (scikit-learn's handwritten digits side by side, captioned with their names)
or a folder of images with a captions file. Trained with teacher forcing, decoded greedily or by
beam search, scored per distinct image against all its captions: exact-match ``accuracy``,
``token_error_rate`` (word error rate) and corpus ``bleu``.
"""

from __future__ import annotations

import collections
import hashlib

import numpy as np
from keras.utils import pad_sequences

from tfseq import data
from tfseq.data.dataset import split_of
from tfseq.export import Serving
from tfseq.models import Captioner
from tfseq.train.scores import sequence_scores
from tfseq.train.task import Task


def image_key(image) -> str:
    """A digest of an image's pixels: its captions share it (and a split)."""
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()


class CaptionTask(Task):
    model_class = Captioner

    def load(self):
        cfg = self.config.data
        if cfg.name and (cfg.images or cfg.captions):
            raise data.DataError(
                f"data.name={cfg.name} and data.images/data.captions were both given: use the "
                f"built-in dataset or your files, not both (data.name=null to use the files)"
            )
        if cfg.name:
            dataset = data.load(cfg.name)
            if dataset.kind != "captioning":
                raise data.DataError(f"data={dataset.name!r} is a {dataset.kind} dataset, not images with captions")
            return dataset.name, dataset.splits
        if not cfg.images or not cfg.captions:
            raise data.DataError("set data=<name>, or data.images=<folder> and data.captions=<CSV or COCO JSON>")
        frame = data.read_image_captions(cfg.images, cfg.captions)
        owner = frame["image"].map(lambda image: split_of(image_key(image)))
        splits = {split: frame[owner == split].reset_index(drop=True) for split in ("train", "validation", "test")}
        return str(cfg.captions), splits

    def prepare(self):
        cfg = self.config.data
        self.data_name, self.splits = self.load()
        shapes = {tuple(np.shape(image)) for frame in self.splits.values() for image in frame["image"]}
        if len(shapes) != 1:
            raise data.DataError(
                f"{self.data_name}: images must share one size (resize them first); found {sorted(shapes)[:4]}"
            )
        self.preprocessor = self.preprocessor_from(
            lambda: data.Seq2SeqPreprocessor(
                None, data.TextVectorizer(split="word", lowercase=cfg.lowercase, max_length=cfg.max_length)
            ).adapt(None, self.splits["train"]["caption"], max_tokens=cfg.max_tokens)
        )
        self.images, self.references, self.pipelines, self.targets = {}, {}, {}, {}
        import tensorflow as tf

        for split, frame in self.splits.items():
            if not len(frame):
                continue
            *rows, tokenized = self.preprocessor.targets(frame["caption"])
            decoder_in, target = (pad_sequences(ids, padding="post", dtype="int32") for ids in rows)
            self.targets[split] = target
            images = np.stack(frame["image"].to_numpy()).astype("float32")
            # One answer per distinct image, right if it is any of the image's captions.
            keys = [image_key(image) for image in frame["image"]]
            references = collections.defaultdict(list)
            for key, tokens in zip(keys, tokenized):
                references[key].append(tokens)
            first = dict(zip(keys[::-1], range(len(keys) - 1, -1, -1)))  # key -> its first row
            self.images[split] = images[sorted(first.values())]
            self.references[split] = {key: references[key] for key in sorted(first, key=first.get)}
            pipeline = tf.data.Dataset.from_tensor_slices(({"source": images, "target": decoder_in}, target))
            batch = int(self.config.train.batch_size)
            self.pipelines[split] = (
                data.shuffled_epochs(pipeline, len(frame), batch, int(self.config.seed))
                if split == "train"
                else pipeline.batch(batch).prefetch(tf.data.AUTOTUNE)
            )
        self.train_data, self.validation_data = self.pipelines["train"], self.pipelines.get("validation")
        self.log(
            f"data: {self.data_name} { ({s: len(f) for s, f in self.splits.items()}) } captions of "
            f"{ ({s: len(i) for s, i in self.images.items()}) } images {shapes.pop()}; vocabulary {self.preprocessor.target_tokenizer.vocabulary_size()} ids"
        )

    def build_model(self):
        cfg = self.config.model
        model = Captioner(
            self.preprocessor.target_tokenizer.vocabulary_size(),
            filters=tuple(cfg.filters),
            cell=cfg.cell,
            units=cfg.units,
            layers=cfg.layers,
            embedding_dim=cfg.embedding_dim,
            attention=cfg.attention,
            dropout=cfg.dropout,
            preprocessor=self.preprocessor,
        )
        model({"source": self.images["train"][:1], "target": np.ones((1, 2), "int32")})  # build the weights
        return model.start_from_prior(self.targets["train"])

    def evaluate(self):
        metrics, sampler = {}, self.sampler()
        for split in ("validation", "test"):
            if split not in self.images:
                continue
            captions = self.model.caption(self.images[split], int(self.config.generate.max_length), sampler)
            outputs = {key: caption.split() for key, caption in zip(self.references[split], captions)}
            metrics[split] = sequence_scores(self.references[split], outputs, join=" ".join)
            metrics[split]["loss"] = float(self.model.evaluate(self.pipelines[split], verbose=0))
            if split == "test":
                self.write_examples(self.references[split], outputs)
        return metrics

    def write_examples(self, references, outputs, count=50):
        """``examples.txt``: the first test images' captions and references; ``examples.png``."""
        keys = list(references)[:count]
        lines = [
            f"{'ok ' if outputs[k] in references[k] else 'ERR'}\t{' '.join(outputs[k])}\t"
            f"(reference: {' | '.join(' '.join(r) for r in references[k])})"
            for k in keys
        ]
        self.run.write_text("examples.txt", "\n".join(lines) + "\n")
        import matplotlib.pyplot as plt

        shown = min(8, len(keys))
        figure, axes = plt.subplots(shown, 1, figsize=(4, 1.1 * shown), squeeze=False)
        for axis, key, image in zip(axes[:, 0], keys, self.images["test"]):
            axis.imshow(image, cmap="gray_r" if np.ndim(image) == 2 else None)
            axis.set_title(" ".join(outputs[key]), fontsize=8)
            axis.axis("off")
        figure.tight_layout()
        self.run.save_figure("examples.png", figure)
        plt.close(figure)

    @classmethod
    def evaluation_data(cls, path, options):
        if not options.get("images"):
            raise data.DataError("a captioner is evaluated on images: pass --images <folder> with the captions file")
        return data.read_image_captions(options["images"], path)

    @classmethod
    def score_export(cls, loaded, frame, declared):
        """One caption per distinct image, scored as :meth:`evaluate` does."""
        from tfseq.evaluate import in_batches, needs, token_rows

        needs(loaded, "target_tokens")
        keys = [image_key(image) for image in frame["image"]]
        references = collections.defaultdict(list)
        for key, tokens in zip(keys, token_rows(loaded, frame["caption"].astype(str), "tokens")):
            references[key].append(tokens)
        first = dict(zip(keys[::-1], range(len(keys) - 1, -1, -1)))  # an image's first row
        ordered = sorted(first, key=first.get)
        images = np.stack([frame["image"].iloc[first[key]] for key in ordered]).astype("float32")
        captions = in_batches(loaded.signatures["serving_default"], images, key="image")["caption"]
        outputs = {key: caption.decode("utf-8").split() for key, caption in zip(ordered, captions)}
        return {
            "test": sequence_scores({key: references[key] for key in ordered}, outputs, join=" ".join),
            "headline": "bleu",
            "examples": len(ordered),
        }

    def serving(self):
        cfg = self.config.generate
        return captioner_serving(
            self.model,
            self.images["train"].shape[1:],
            max_length=int(cfg.max_length),
            sampler=self.sampler(),
            metadata={"data": self.data_name, "generate": dict(cfg)},
        )  # sampler, beams, length_penalty, max_length


def captioner_serving(model, image_shape, max_length=20, sampler=None, metadata=None) -> Serving:
    """A :class:`~tfseq.models.Captioner`'s export: ``serving_default(image: float32[batch,
    *image_shape]) -> {caption: string[batch]}`` (pixels in [0, 1], as in training), decoded by
    ``sampler`` (default greedy)."""
    import tensorflow as tf

    from tfseq.tasks.seq2seq import target_token_rows

    def answer(module, image):
        return {"caption": module.preprocessor.postprocess(model.translate_ids(image, max_length, sampler))}

    def target_tokens(module, text):  # references split as training splits them (tfseq-evaluate)
        return target_token_rows(module.preprocessor.target_tokenizer, text)

    return Serving(
        answer,
        model.variables,
        model.preprocessor,
        inputs={"image": tf.TensorSpec([None, *image_shape], tf.float32)},
        columns=("caption",),
        metadata=metadata or {},
        functions={"target_tokens": (target_tokens, {"text": tf.TensorSpec([None], tf.string)})},
    )
