"""One-to-many: an image captioner (a convolutional encoder, the seq2seq attention decoder).

"Show, attend and tell" (Xu et al. 2015) in small: convolutions turn the image into a grid of
feature vectors, the decoder starts from their mean and attends to every grid cell while it
writes the caption word by word. Everything after the encoder is :class:`~tfseq.models.Seq2Seq`'s
(teacher forcing, ``next_token``, greedy and beam decoding).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfseq import decoding
from tfseq.models.backbone import build_once
from tfseq.models.seq2seq import Seq2Seq
from tfseq.models.traced import in_batches, traced


@keras.saving.register_keras_serializable(package="tfseq")
class Captioner(Seq2Seq):
    """Conv2D blocks -> a grid of features -> the attention decoder of :class:`Seq2Seq`.

    ``call({"source": images (B, H, W) or (B, H, W, C) in [0, 1], "target": (B, T) ids})``.

    Args:
        target_vocabulary: caption ids (0 padding, 1 OOV, 2 start, 3 end, then words).
        filters: channels of each conv block (3x3 conv + ReLU, then 2x2 max pooling but for the
            last block); the grid cells are what attention reads.
        units, cell, layers, embedding_dim, attention, dropout: the decoder, as in Seq2Seq.
        preprocessor: a ``Seq2SeqPreprocessor`` without a source tokenizer (the captions' rule).

    Example:
        >>> model = Captioner(target_vocabulary=14, filters=(32, 64))
        >>> model.fit({"source": images, "target": captions_in}, captions_out)
        >>> model.caption(images)
    """

    def __init__(
        self,
        target_vocabulary,
        filters=(32, 64),
        cell="gru",
        units=128,
        layers=1,
        embedding_dim=64,
        attention="luong",
        dropout=0.0,
        preprocessor=None,
        **kwargs,
    ):
        self.filters = tuple(int(f) for f in filters)
        if not self.filters:
            raise ValueError("filters must name at least one conv block.")
        decoder = {
            "cell": cell,
            "units": units,
            "layers": layers,
            "bidirectional": False,
            "embedding_dim": embedding_dim,
            "dropout": dropout,
        }
        super().__init__(
            decoder, target_vocabulary=target_vocabulary, attention=attention, preprocessor=preprocessor, **kwargs
        )

    def make_encoder(self, decoder):
        """Conv blocks; ``decoder`` (a backbone's keys) sets the decoder alone."""
        self.decoder_like(decoder)
        self.convolutions = [
            keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv_{i}")
            for i, f in enumerate(self.filters)
        ]
        self.pool = keras.layers.MaxPooling2D(2, padding="same")

    def build_encoder(self, source_shape=None):
        channels = source_shape[-1] if source_shape is not None and len(source_shape) == 4 else 1
        for layer in self.convolutions:
            build_once(layer, (None, None, None, channels))
            channels = layer.filters

    @property
    def memory_width(self) -> int:
        return self.filters[-1]

    def encode_memory(self, images, training=False):
        x = ops.cast(images, self.compute_dtype)
        if len(x.shape) == 3:
            x = x[..., None]  # grey images without a channel axis
        for index, layer in enumerate(self.convolutions):
            x = layer(x)
            if index < len(self.convolutions) - 1:
                x = self.pool(x)
        x = self.dropout(x, training=training)
        batch, width = ops.shape(x)[0], x.shape[-1]
        memory = ops.reshape(x, (batch, -1, width))
        return memory, ops.ones(ops.shape(memory)[:2], "bool")

    def caption(self, images, max_length=20, sampler=None, batch_size=256) -> list[str]:
        """Captions for an array of images (greedy by default)."""
        images = np.asarray(images, "float32")
        sampler, name = decoding.resolve(sampler, "greedy")
        key = f"caption-{name}-{max_length}"
        run = traced(self, key, lambda batch: self.translate_ids(batch, max_length, sampler))
        return self.texts(in_batches(run, images, batch_size))

    def encoder_config(self) -> dict:
        return {
            "filters": list(self.filters),
            "cell": self.cell,
            "units": self.units,
            "layers": self.num_layers,
            "embedding_dim": self.embedding_dim,
            "dropout": self.dropout_rate,
        }
