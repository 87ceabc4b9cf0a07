import pytest

from bench.convergence import convergence_epoch, first_hit_epoch, stuck_at_baseline


@pytest.mark.parametrize(
    ("solved", "conv", "first"),
    [
        ([False, False, True, True, True], 3, 3),
        ([False, True, False, True, True], 4, 2),  # hit at 2, lost, stable from 4
        ([True, True, True], 1, 1),
        ([False, True, True, False], None, 2),  # lost at the last epoch: never converged
        ([False, False], None, None),
        ([], None, None),
    ],
)
def test_convergence_and_first_hit(solved, conv, first):
    assert convergence_epoch(solved) == conv
    assert first_hit_epoch(solved) == first


def test_stuck_at_baseline():
    assert stuck_at_baseline(0.17, 1 / 6)
    assert stuck_at_baseline(1 / 6 * 0.951, 1 / 6)
    assert not stuck_at_baseline(1 / 6 * 0.94, 1 / 6)
    assert not stuck_at_baseline(float("nan"), 1 / 6)
    assert not stuck_at_baseline(0.1, float("nan"))
