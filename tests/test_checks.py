"""The input checks, and Checked: a check once, then the computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaebook.checks import (
    check_batch,
    check_broadcastable,
    check_finite,
    check_model,
    check_positive_int,
    check_real,
    check_same_device,
    check_same_length,
    check_tensor,
    check_unit_interval,
    check_values,
    checked,
    trusted,
)


@pytest.mark.parametrize("value", [True, False, 0, -3, 2.0, 2.5, "3", None])
def test_check_positive_int_refuses_bools_floats_and_small_values(value):
    with pytest.raises(ValueError, match=f"n must be an integer >= 1, got {value!r}"):
        check_positive_int(value, "n")


def test_check_positive_int_accepts_python_and_numpy_integers():
    assert check_positive_int(3, "n") == 3
    assert check_positive_int(np.int64(4), "n") == 4 and type(check_positive_int(np.int64(4), "n")) is int


def test_check_real_bounds():
    assert check_real(0.5, "lr") == 0.5
    assert check_real(0, "std", 0.0, 1.0, include_low=True) == 0.0
    for bad in (0, -1.0, float("nan"), float("inf"), True, "1"):
        with pytest.raises(ValueError, match=r"lr must be a finite real number in \(0, inf\)"):
            check_real(bad, "lr")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        check_real(1.5, "std", 0.0, 1.0, include_low=True)


def test_tensor_and_batch_checks():
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor, got ndarray.*torch.as_tensor"):
        check_tensor(np.zeros(3), "x")
    with pytest.raises(TypeError, match=r"floating-point.*x.float\(\)"):
        check_tensor(torch.zeros(3, dtype=torch.int64), "x")
    with pytest.raises(ValueError, match="x is empty"):
        check_batch(torch.zeros(0, 784))
    with pytest.raises(ValueError, match="x is empty"):
        check_batch(torch.zeros(3, 0))
    with pytest.raises(ValueError, match="784 features"):
        check_batch(torch.zeros(3, 783), dim=784)
    assert check_batch(torch.zeros(3, 5), dim=5).shape == (3, 5)


def test_value_checks_catch_nan_and_inf():
    x = torch.tensor([0.0, 0.5, 1.0])
    assert check_unit_interval(x) is x and check_finite(x, "x") is x
    with pytest.raises(ValueError, match=r"1 outside it \(from 0 to 1, 1 nan\)"):
        check_unit_interval(torch.tensor([0.0, float("nan"), 1.0]))
    with pytest.raises(ValueError, match=r"2 outside it \(from -1 to 255, 0 nan\)"):
        check_unit_interval(torch.tensor([-1.0, 0.5, 255.0]))
    with pytest.raises(ValueError, match="x has 2 non-finite values"):
        check_finite(torch.tensor([float("inf"), float("-inf"), 0.0]), "x")


def test_length_broadcast_values_model_and_device_checks():
    assert check_same_length((torch.zeros(3), np.zeros(3), [1, 2, 3]), "a, b and c") == 3
    with pytest.raises(ValueError, match=r"a and b must have the same number of rows, got lengths \[3, 2\]"):
        check_same_length((torch.zeros(3), [1, 2]), "a and b")
    assert check_broadcastable({"a": torch.zeros(3, 1), "b": torch.zeros(4)}) == (3, 4)
    with pytest.raises(ValueError, match=r"a \(3,\), b \(4,\)"):
        check_broadcastable({"a": torch.zeros(3), "b": torch.zeros(4)})
    with pytest.raises(ValueError, match=r"f must return one value per sample, a tensor of shape \(5,\)"):
        check_values(torch.zeros(5, 2), (5,), "f")
    with pytest.raises(ValueError, match="f must return one value per sample.*got list"):
        check_values([0.0] * 5, (5,), "f")
    with pytest.raises(ValueError, match="non-finite values .* for 1 samples"):
        check_values(torch.tensor([0.0, float("nan")]), (2,), "f")
    with pytest.raises(TypeError, match=r"model must be a Linear \(it says why\), got ReLU"):
        check_model(torch.nn.ReLU(), torch.nn.Linear, "model", "it says why")
    with pytest.raises(ValueError, match=r"x is on meta but the model is on cpu.*x.to\(device\)"):
        check_same_device(torch.zeros(2, device="meta"), torch.device("cpu"), "x")


def test_checked_checks_with_defaults_then_computes_and_trusted_skips_the_check():
    seen = []

    def check(a, b, **_):
        seen.append((a, b))
        if a < 0:
            raise ValueError("a must be >= 0")

    @checked(check)
    def add(a: int, b: int = 10) -> int:
        """Add."""
        return a + b

    assert add(1) == 11 and seen == [(1, 10)]
    with trusted():
        assert add(-1) == 9 and len(seen) == 1
    with pytest.raises(ValueError, match="a must be >= 0"):
        add(-1)  # the switch is back on after the block
    add.check(2, b=3)
    assert seen[-1] == (2, 3)
    with pytest.raises(ValueError, match="a must be >= 0"):
        add(-1)
    with pytest.raises(TypeError, match=r"add\(a: .*too many positional arguments"):
        add(1, 2, 3)
    assert add.__doc__ == "Add." and add.__name__ == "add"
