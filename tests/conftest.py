import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder holding mnist/: $CODINGS_DATA_DIR (as CI sets it), else ../shared/data."""
    env = os.environ.get("CODINGS_DATA_DIR")
    if env:
        return Path(env)
    sibling = REPO.parent / "shared" / "data"
    if (sibling / "mnist").is_dir():
        return sibling
    pytest.skip("MNIST not available: set CODINGS_DATA_DIR to a folder holding mnist/")


@pytest.fixture(scope="session")
def digits():
    from codings.datasets import load_dataset

    return load_dataset("digits", "all")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
