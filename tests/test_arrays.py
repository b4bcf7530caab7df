"""as_tensor: the one conversion of user data, for whole data sets and for inference batches."""

import numpy as np
import pytest
import torch

from codings.arrays import as_tensor


def test_float64_goes_straight_to_float64():
    X = np.array([[1.0 + 1e-12, 2.0]])  # the 1e-12 would not survive a trip through float32
    t = as_tensor(X, dtype=torch.float64)
    assert t.dtype == torch.float64 and float(t[0, 0]) == 1.0 + 1e-12
    assert as_tensor(X).dtype == torch.float32  # the default is unchanged


def test_a_batch_reports_the_row_of_the_whole_data_set():
    X = np.zeros((4, 3), dtype=np.float32)
    X[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"index \(2, 1\)"):
        as_tensor(X)
    with pytest.raises(ValueError, match=r"index \(102, 1\)"):
        as_tensor(X, offset=100)  # rows 100-103 of a larger X


def test_a_meta_tensor_keeps_its_shape_and_is_not_read():
    t = as_tensor(torch.empty((5, 2), device="meta"), torch.device("meta"))
    assert t.is_meta and t.shape == (5, 2) and t.dtype == torch.float32
