"""Keras' own recurrent-layer tests, as installed with the keras wheel, run on tfseq's classes.

Each Keras test module below is imported from the installed keras package (never copied here) and
its ``layers`` name is pointed at a view of ``keras.layers`` in which ``LSTM``, ``GRU``,
``SimpleRNN`` and their cells are tfseq's. No assertion is touched. The tests that may differ
are listed in DIFFERENCES with the reason; each is an xfail that must fail (strict), so the list
cannot go stale. The same module runs under the torch backend in a subprocess where torch is
installed (CI installs it), with test_keras_compat.py beside it.
"""

import importlib
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import keras
import pytest
from keras.src import layers as keras_layers

import tfseq.layers

KERAS_MODULES = ("lstm_test", "gru_test", "simple_rnn_test", "bidirectional_test", "stacked_rnn_cells_test")
SWAPPED = ("LSTM", "GRU", "SimpleRNN", "LSTMCell", "GRUCell", "SimpleRNNCell")

# Keras' Bidirectional takes a private fused path (backend.bidirectional_lstm/gru, one cuDNN
# call for both directions) only for its own classes: `isinstance(fwd, keras LSTM)`. tfseq's
# layers run each direction on their own fused path instead, with the same outputs.
PRIVATE_FUSED_BIDIRECTIONAL = (
    "Keras' private fused-Bidirectional gate (_can_attempt_fused_*) recognises only Keras' own "
    "LSTM/GRU classes (isinstance); tfseq's layers run each direction on their own fused path"
)
DIFFERENCES = {
    ("bidirectional_test", "test_fused_lstm_eligibility"): PRIVATE_FUSED_BIDIRECTIONAL,
    ("bidirectional_test", "test_fused_gru_eligibility"): PRIVATE_FUSED_BIDIRECTIONAL,
}


class TfseqLayers(types.ModuleType):
    """``keras.src.layers`` with tfseq's recurrent layers and cells in place of Keras'."""

    def __getattr__(self, name):
        return getattr(keras_layers, name)


swapped_layers = TfseqLayers("tfseq_layers_for_keras_tests")
for _name in SWAPPED:
    setattr(swapped_layers, _name, getattr(tfseq.layers, _name))


def keras_test_case(module_name):
    """The module's TestCase class, its ``layers`` pointed at tfseq's, the listed differences
    marked as strict xfails, under a name of its own (Keras' bidirectional test class is also
    called SimpleRNNTest)."""
    module = importlib.import_module(f"keras.src.layers.rnn.{module_name}")
    module.layers = swapped_layers
    (base,) = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, keras.src.testing.TestCase)
        and value.__module__ == module.__name__
    ]
    overrides = {}
    for (owner, test), reason in DIFFERENCES.items():
        if owner == module_name:
            assert hasattr(base, test), f"{module_name}.{test} is listed in DIFFERENCES but no longer exists"
            overrides[test] = pytest.mark.xfail(strict=True, reason=reason)(getattr(base, test))
    title = "".join(part.title() for part in module_name.split("_"))
    return type(f"TestKeras{title}OnTfseq", (base,), {"__module__": __name__, **overrides})


TestKerasLstmTestOnTfseq = keras_test_case("lstm_test")
TestKerasGruTestOnTfseq = keras_test_case("gru_test")
TestKerasSimpleRnnTestOnTfseq = keras_test_case("simple_rnn_test")
TestKerasBidirectionalTestOnTfseq = keras_test_case("bidirectional_test")
TestKerasStackedRnnCellsTestOnTfseq = keras_test_case("stacked_rnn_cells_test")


def test_every_keras_recurrent_test_module_is_run():
    assert len(KERAS_MODULES) == 5 and all(
        f"TestKeras{''.join(p.title() for p in m.split('_'))}OnTfseq" in globals() for m in KERAS_MODULES
    )


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="started once, from the TensorFlow run")
def test_keras_suite_passes_under_torch_too():
    pytest.importorskip("torch")
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            __file__,
            str(Path(__file__).with_name("test_keras_compat.py")),
            "-k",
            "not under_torch",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-2000:]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", summary) and not re.search(r"\d+ (failed|errors?)\b", summary), summary
