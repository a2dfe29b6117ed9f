"""Statistics restated as composites: (filled in next) cov, corrcoef, quantiles, nan-reductions.

Registered with ``composite.composite``; see that module for the contract. Imports numpy only.
"""

from __future__ import annotations

import numpy as np  # noqa: F401

from .composite import composite  # noqa: F401
