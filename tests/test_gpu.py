"""CUDA-only paths: run where a GPU exists, skipped with the reason elsewhere."""

import pytest
import torch

from bench.calibration import calibrate
from bench.timing import TimingPlan
from bench.train import TrialOptions, run_trial
from bench.trial import Trial

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine"),
]
FAST = TrialOptions(plan=TimingPlan(target_s=0.05))
HELLO = Trial(device="cuda", cell="lstm", encoding="embedding", hidden=8, layers=2)


def test_graph_mode_trains_like_eager():
    eager = run_trial(HELLO, FAST)
    graph = run_trial(HELLO.replace(mode="graph"), FAST)
    assert graph.status in ("ok", "not_converged"), graph.error
    # The warm-up before capture is undone: both start from the seed's weights.
    assert [round(r.loss, 3) for r in graph.curve[:3]] == pytest.approx([round(r.loss, 3) for r in eager.curve[:3]],
                                                                        abs=2e-3)  # fmt: skip
    assert len(graph.samples) >= 15


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_autocast_on_cuda(dtype):
    r = run_trial(Trial(device="cuda", task="synthetic", encoding="dense", cell="gru", hidden=64, seq_len=8,
                        batch=4, dtype=dtype), FAST)  # fmt: skip
    if dtype == "bfloat16" and not torch.cuda.is_bf16_supported():  # pre-Ampere: the one allowed skip
        assert (r.status, r.error) == ("skipped", "bfloat16 not supported by this GPU")
        return
    # Any CUDA GPU autocasts a GRU to float16 (and bfloat16 where supported): a skip here is a bug.
    assert r.status == "ok", f"{r.status}: {r.error}"
    assert r.samples and r.trial.dtype == dtype


def test_cuda_calibration_measures_a_peak():
    cal = calibrate({("cuda", "float32")})
    assert cal["cuda"]["matmul_tflops"]["float32"] > 1 and cal["cuda"]["bandwidth_gbs"] > 100
