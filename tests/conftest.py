import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# Tests never fetch vectors, and never read the ones a developer has cached: model.embeddings=auto
# trains without them, as offline.
os.environ["TFSEQ_OFFLINE"] = "1"
os.environ["TFSEQ_CACHE"] = tempfile.mkdtemp(prefix="tfseq-test-cache-")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(0)
