import math

import pytest

from dann_core import schedules


@pytest.mark.parametrize(
    "p, gamma, expected",
    [(0.0, 10, 0.0), (1.0, 10, 2 / (1 + math.exp(-10)) - 1), (0.1, 10, 2 / (1 + math.exp(-1)) - 1), (0.5, 1, 0.2449186624)],
)
def test_dann_lambda_matches_the_paper_formula(p, gamma, expected):
    assert schedules.dann_lambda(p, gamma) == pytest.approx(expected, rel=1e-9)


def test_dann_lambda_rises_monotonically_towards_one():
    values = [schedules.dann_lambda(i / 20) for i in range(21)]
    assert values == sorted(values)
    assert 0.999 < values[-1] < 1.0


@pytest.mark.parametrize("p, expected", [(0.0, 0.01), (1.0, 0.01 / 11**0.75), (0.5, 0.01 / 6**0.75)])
def test_annealed_lr_matches_the_paper_formula(p, expected):
    assert schedules.annealed_lr(p, 0.01) == pytest.approx(expected, rel=1e-12)


def test_constant_ignores_progress():
    schedule = schedules.constant(0.3)
    assert schedule(0.0) == schedule(0.7) == 0.3


@pytest.mark.parametrize("step, total, expected", [(0, 10, 0.0), (5, 10, 0.5), (10, 10, 1.0), (12, 10, 1.0), (3, 0, 0.0)])
def test_progress_is_clamped(step, total, expected):
    assert schedules.progress(step, total) == expected


def test_config_values_select_the_schedule():
    assert schedules.lambda_at(0.5, "schedule") == schedules.dann_lambda(0.5)
    assert schedules.lambda_at(0.5, 0.25) == 0.25
    assert schedules.lr_at(1.0, 0.1, annealed=True) == schedules.annealed_lr(1.0, 0.1)
    assert schedules.lr_at(1.0, 0.1, annealed=False) == 0.1
