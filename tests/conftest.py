import os

import numpy as np
import pytest
from hypothesis import settings

# The suite gates CI, so property tests draw the same examples on every run; set
# HYPOTHESIS_PROFILE=explore to draw fresh ones (and keep a local example database).
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
