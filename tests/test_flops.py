"""FlopCounterMode's count of one training step against the analytic matmul formula.

Tolerance: none. `flops_per_step` counts backward as twice the forward for every GEMM; autograd skips two
gradients nobody needs: the input's of the first layer's input projection (one-hot or dense inputs need
no gradient; an embedding's output does) and h_0's in the first step's recurrent GEMM. With those two
left out the analytic figure equals the measured one to the FLOP, and the plain formula is an upper bound.
"""

import math

import pytest
import torch

from bench import flops
from bench.flops import count_step, step_flops
from bench.models import CELLS, flops_per_step
from bench.tasks import TASKS
from bench.trial import Trial


def skipped_gradients(gates: int, rnn_in: int, hidden: int, layers: int, seq_len: int, batch: int,
                      input_needs_grad: bool) -> float:  # fmt: skip
    h0 = layers * 2.0 * gates * hidden * hidden * batch
    first_input = 0.0 if input_needs_grad else 2.0 * gates * hidden * rnn_in * batch * seq_len
    return h0 + first_input


CASES = [
    Trial(task="hello", encoding="onehot", hidden=4, head="none"),
    Trial(task="hello", encoding="embedding", hidden=8, layers=2),
    Trial(task="copy", encoding="embedding", hidden=16, seq_len=10, batch=4),
    Trial(task="adding", hidden=32, layers=3, seq_len=20, batch=8),
    Trial(task="synthetic", hidden=24, input_size=12, seq_len=7, batch=5, layers=2),
]


@pytest.mark.parametrize("impl", ["fused", "cell"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_measured_flops_equal_the_analytic_count_of_what_autograd_runs(cell, impl, case):
    trial = CASES[case].replace(cell=cell, impl=impl)
    task = TASKS.get(trial.task)()
    trial = task.normalize(trial)
    gates = CELLS.get(cell).gates
    rnn_in = trial.embed if trial.encoding == "embedding" else task.in_features(trial)
    out = task.out_features(trial) if trial.head == "linear" else 0
    length = task.length(trial)
    analytic = flops_per_step(gates, rnn_in, trial.hidden, trial.layers, out, length, trial.batch)
    skipped = skipped_gradients(gates, rnn_in, trial.hidden, trial.layers, length, trial.batch,
                                trial.encoding == "embedding")  # fmt: skip
    measured = count_step(trial, task, torch.device("meta"))
    assert measured == analytic - skipped
    assert step_flops(trial, task) == measured
    assert 0.6 * analytic < measured <= analytic


def test_meta_and_cpu_counts_agree_where_the_cpu_kernel_is_visible():
    trial = Trial(task="copy", cell="gru", encoding="embedding", hidden=16, seq_len=6, batch=3)
    task = TASKS.get("copy")()
    assert count_step(trial, task, torch.device("cpu")) == count_step(trial, task, torch.device("meta"))


@pytest.mark.parametrize("impl", ["fused", "cell"])
def test_min_cells_count_their_input_projections(impl):
    # minGRU: 2 linears of H x I per step, minLSTM 3; no recurrent matmul at all. Hello: one-hot I=4, T=5, B=1,
    # head 8 -> 4; layer 0's input gradient is skipped, so each projection costs 2 (forward) + 2 (weight grad).
    task = TASKS.get("hello")()
    for cell, blocks in (("mingru", 2), ("minlstm", 3)):
        trial = task.normalize(Trial(task="hello", cell=cell, impl=impl, hidden=8))
        recurrent = blocks * (2 + 2) * 8 * 4 * 5
        head = (2 + 2 + 2) * 8 * 4 * 5
        assert count_step(trial, task, torch.device("meta")) == recurrent + head


def test_the_count_is_cached_per_shape(monkeypatch):
    calls = []
    real = flops._measure
    monkeypatch.setattr(flops, "_measure", lambda *a: calls.append(a) or real(*a))
    monkeypatch.setattr(flops, "_cache", {})
    task = TASKS.get("adding")()
    trial = task.normalize(Trial(task="adding", cell="lstm", hidden=5, seq_len=9, batch=2))
    first = step_flops(trial, task)
    assert math.isfinite(first)
    assert step_flops(trial.replace(seed=3, lr=0.5, max_epochs=2, device="cuda"), task) == first
    assert len(calls) == 1
    step_flops(trial.replace(hidden=6), task)
    assert len(calls) == 2


LONG = [
    Trial(task="synthetic", hidden=6, input_size=3, seq_len=37, batch=2, layers=2),
    Trial(task="copy", encoding="embedding", hidden=5, seq_len=80, batch=2),  # its delay adds to every probe
]


@pytest.mark.parametrize("impl", ["fused", "cell"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "mingru", "minlstm"])
@pytest.mark.parametrize("case", range(len(LONG)))
def test_a_long_sequence_extrapolated_from_short_ones_equals_its_full_count(cell, impl, case, monkeypatch):
    monkeypatch.setattr(flops, "_cache", {})
    lengths = []
    real = flops.count_step
    monkeypatch.setattr(flops, "count_step", lambda t, *a: lengths.append(t.seq_len) or real(t, *a))
    task = TASKS.get(LONG[case].task)()
    trial = task.normalize(LONG[case].replace(cell=cell, impl=impl))
    assert step_flops(trial, task) == real(trial, task, torch.device("meta"))
    assert lengths == list(flops.PROBE_LENGTHS)  # extrapolated, not counted at the real length


def test_a_users_cell_is_counted_at_its_real_length(monkeypatch, tmp_path):
    # Pads the sequence to a multiple of 16 steps, as a chunked scan does: every probe (T = 2..5) mixes one
    # chunk, so the probes grow by one constant step and extrapolating would miss the chunks T = 40 has.
    (tmp_path / "chunkcells.py").write_text(
        "import torch\n"
        "class Chunked(torch.nn.Module):\n"
        "    def __init__(self, i, h, layers):\n"
        "        super().__init__()\n"
        "        self.inp = torch.nn.Linear(i, h)\n"
        "        self.mix = torch.nn.Linear(16 * h, 16 * h)\n"
        "    def forward(self, x):\n"
        "        t, b, _ = x.shape\n"
        "        h = self.inp(x)\n"
        "        pad = (-t) % 16\n"
        "        h = torch.cat([h, h.new_zeros(pad, b, h.shape[-1])])\n"
        "        chunks = h.reshape(-1, 16, b, h.shape[-1]).permute(0, 2, 1, 3).reshape(-1, b, 16 * h.shape[-1])\n"
        "        out = self.mix(chunks).reshape(-1, b, 16, h.shape[-1]).permute(0, 2, 1, 3)\n"
        "        return out.reshape(-1, b, h.shape[-1])[:t]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(flops, "_cache", {})
    task = TASKS.get("adding")()
    trial = task.normalize(Trial(task="adding", cell="chunkcells:Chunked", hidden=3, seq_len=40, batch=2))
    full = count_step(trial, task, torch.device("meta"))
    extrapolated = flops.affine_in_length(lambda n: count_step(trial.replace(seq_len=n), task, torch.device("meta")),
                                          40)  # fmt: skip
    assert extrapolated < full  # the probes look affine (one chunk each) and would miss two chunks
    assert step_flops(trial, task) == full


def test_affine_in_length_extrapolates_only_what_the_probes_show_to_be_affine():
    asked = []

    def counter(f):
        def count(n):
            asked.append(n)
            return f(n)

        return count

    assert flops.affine_in_length(counter(lambda n: 7 + 3 * n), 100) == 307
    assert asked == [2, 3, 4, 5]
    asked.clear()
    assert flops.affine_in_length(counter(lambda n: 11.0), 100) == 11.0  # a task that ignores the length
    asked.clear()
    assert flops.affine_in_length(counter(lambda n: n * n), 100) == 10000  # not affine: counted at 100
    assert asked == [2, 3, 4, 5, 100]
    asked.clear()
    assert flops.affine_in_length(counter(lambda n: 2 * n), 12) == 24  # probes (14) cost more than 12
    assert asked == [12]
    asked.clear()
    # the probes would build 4 sequences of n + 40 (a copy task's delay): dearer than one of 140
    assert flops.affine_in_length(counter(lambda n: 2 * n), 100, work=lambda n: n + 40) == 200
    assert asked == [100]

    def refuses_short(n):
        if n < 10:
            raise ValueError("too short")
        return 5.0 * n

    assert flops.affine_in_length(refuses_short, 50) == 250


def test_a_module_that_cannot_run_on_meta_is_counted_on_the_cpu(monkeypatch, tmp_path):
    (tmp_path / "datacells.py").write_text(
        "import torch\n"
        "class Sync(torch.nn.Module):\n"
        "    def __init__(self, i, h, layers):\n"
        "        super().__init__()\n"
        "        self.lin = torch.nn.Linear(i, h)\n"
        "    def forward(self, x):\n"
        "        if x.sum().item() > 1e30:  # data-dependent: fails on meta\n"
        "            raise ValueError\n"
        "        return self.lin(x)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    task = TASKS.get("adding")()
    trial = task.normalize(Trial(task="adding", cell="datacells:Sync", hidden=4, seq_len=3, batch=2))
    with pytest.raises(Exception):  # noqa: B017 -- whatever meta raises for .item()
        count_step(trial, task, torch.device("meta"))
    # Linear(2 -> 4) on (3, 2) with no input gradient, then the head 4 -> 1 with it.
    assert step_flops(trial, task) == 4 * 2 * 4 * 6 + 6 * 4 * 1 * 6
    assert math.isfinite(step_flops(trial, task))
