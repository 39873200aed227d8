"""Gradient flow through time against the closed form of a linear recurrence."""

import numpy as np
import pytest

from tfseq.diagnostics import gradient_flow, half_life, main
from tfseq.layers import SimpleRNN


@pytest.mark.parametrize("decay", [0.9, 0.5])
def test_linear_rnn_gradient_decays_geometrically(decay):
    # h_t = x_t + decay * h_{t-1}: d sum(h_T) / d x_t = decay^(T-1-t) per unit, norm * sqrt(units).
    units, steps = 4, 12
    layer = SimpleRNN(units, activation="linear", use_bias=False)
    layer.build((None, steps, units))
    layer.set_weights([np.eye(units, dtype="float32"), decay * np.eye(units, dtype="float32")])
    flow = gradient_flow(layer, steps=steps, batch=3, features=units)
    expected = decay ** np.arange(steps)[::-1] * np.sqrt(units)
    assert flow == pytest.approx(expected, rel=1e-5)
    assert half_life(flow) == pytest.approx(np.log(0.5) / np.log(decay), rel=1e-4)
    assert half_life(np.ones(5)) == float("inf")


def test_cli_prints_a_table_and_plots(tmp_path, capsys):
    main(["--cells", "rnn", "gru", "--steps", "12", "--units", "4", "--plot", str(tmp_path / "flow.png")])
    out = capsys.readouterr().out
    assert "| rnn (tanh) |" in out and "| gru |" in out and (tmp_path / "flow.png").stat().st_size > 1000
