import pytest
import torch

from bench.models import CELLS, RecurrentNet, count_params, flops_per_step, recurrent_params


@pytest.mark.parametrize("cell,gates", [("rnn", 1), ("lstm", 4), ("gru", 3)])
@pytest.mark.parametrize("impl", ["fused", "cell"])
@pytest.mark.parametrize("inp,hidden,layers", [(4, 4, 1), (10, 8, 2), (3, 32, 3)])
def test_recurrent_params_match_formula(cell, gates, impl, inp, hidden, layers):
    model = RecurrentNet(cell, impl, "dense", "none", inp, 1, hidden, layers, hidden)
    assert CELLS.get(cell).gates == gates
    assert count_params(model) == recurrent_params(gates, inp, hidden, layers)
    # G*(H*I + H^2 + 2H) for layer 0 plus G*(2H^2 + 2H) for each deeper layer
    expected = gates * (hidden * inp + hidden**2 + 2 * hidden) + (layers - 1) * gates * (2 * hidden**2 + 2 * hidden)
    assert count_params(model) == expected


def test_tutorial_model_sizes():
    # Model 1/2: RNN(4, 4) on one-hot, no head. Models 3-5: Embedding(4, 10) + 2 layers of 8 + Linear(8, 4).
    def params(cell: str, impl: str) -> int:
        return count_params(RecurrentNet(cell, impl, "embedding", "linear", 4, 10, 8, 2, 4))

    assert count_params(RecurrentNet("rnn", "cell", "onehot", "none", 4, 10, 4, 1, 4)) == 40
    # embedding 4*10, layer 0 G*(8*10 + 64 + 16) = G*160, layer 1 G*(64 + 64 + 16) = G*144, head 8*4 + 4
    assert params("rnn", "fused") == 40 + 160 + 144 + 36 == 380
    assert params("lstm", "fused") == 40 + 4 * 304 + 36 == 1292
    assert params("gru", "cell") == 40 + 3 * 304 + 36 == 988


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_cell_loop_computes_the_same_function_as_fused(cell):
    torch.manual_seed(0)
    fused = RecurrentNet(cell, "fused", "onehot", "linear", 4, 10, 6, 2, 4)
    loop = RecurrentNet(cell, "cell", "onehot", "linear", 4, 10, 6, 2, 4)
    with torch.no_grad():
        for layer, c in enumerate(loop.rnn.cells):
            c.weight_ih.copy_(getattr(fused.rnn, f"weight_ih_l{layer}"))
            c.weight_hh.copy_(getattr(fused.rnn, f"weight_hh_l{layer}"))
            c.bias_ih.copy_(getattr(fused.rnn, f"bias_ih_l{layer}"))
            c.bias_hh.copy_(getattr(fused.rnn, f"bias_hh_l{layer}"))
        loop.head.load_state_dict(fused.head.state_dict())
    x = torch.randint(0, 4, (7, 3))  # (T, B)
    out = fused(x)
    assert out.shape == (7, 3, 4)
    torch.testing.assert_close(loop(x), out, rtol=1e-5, atol=1e-6)


def test_flops_formula():
    # one layer, G=4, I=2, H=3, T=5, B=7, linear head to 1: forward 2*4*3*(2+3)*35 + 2*3*1*35
    assert flops_per_step(4, 2, 3, 1, 1, 5, 7) == 3 * (2 * 4 * 3 * 5 * 35 + 2 * 3 * 35)
    assert flops_per_step(1, 4, 4, 2, 0, 1, 1) == 3 * (2 * 4 * 8 + 2 * 4 * 8)
