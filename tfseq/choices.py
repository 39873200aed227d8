"""The names a recipe chooses among, in one place that imports nothing.

The modules that implement them take their names from here (``tfseq.layers.CELLS`` maps these
names to its classes, ``tfseq.train.trainer.OPTIMIZERS`` to Keras' optimizers, ...), and
:mod:`tfseq.recipes` checks a value against them at parse time without loading TensorFlow.
"""

CELLS = ("rnn", "lstm", "gru")  # backbone.cell, model.cell: SimpleRNN, LSTM, GRU
POOLING = ("max", "mean", "max+mean", "attention")  # model.pooling (besides "last")
HEADS = ("binary", "multiclass", "multilabel")  # model.head
EXPERTS = ("tfidf", "nb")  # model.wide's fitted experts: TF-IDF and NBSVM log-count ratios
ATTENTION = ("luong", "none")  # model.attention
ARCHITECTURES = ("skipgram", "cbow")  # model.architecture: a word predicts its context | the reverse
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")  # train.optimizer
SCHEDULES = ("constant", "cosine")  # train.schedule
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")  # train.precision: Keras dtype policies
TRACKERS = ("none", "mlflow")  # train.track: where a run is tracked besides TensorBoard
SAMPLERS = ("greedy", "sampling", "beam")  # generate.sampler
SPLITS = ("word", "wordpunct", "subword", "character")  # data.split, data.source_split, data.target_split
CONLLU_COLUMNS = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")  # data.tag_column
# The backbone keys an old recipe set under model: (now backbone:); MOVED in tfseq.recipes.
BACKBONE_KEYS = ("cell", "units", "layers", "bidirectional", "embedding_dim", "dropout", "token_dropout", "char_cnn")
