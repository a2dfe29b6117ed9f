"""NumPy's namespace as dualad found it: dualad's and the tape's own code call these.

Interception (dualad._intercept) replaces a few attributes of the ``numpy`` module with
dormant wrappers once it is first used. dualad's modules take ``np`` from here, a copy of
NumPy's namespace made at import, so their own calls (a rule allocating a tangent, the
sweep's sums) neither pay for those wrappers nor depend on them. Imports numpy only.
"""

from __future__ import annotations

import types

import numpy

np = types.ModuleType(numpy.__name__, numpy.__doc__)
np.__dict__.update(numpy.__dict__)
