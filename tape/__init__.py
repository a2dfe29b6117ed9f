"""tape: the reverse-mode add-on of dualad.

Records NumPy operations on ``Variable`` objects as a Wengert list (using dualad's rule
tables) and sweeps it backwards: ``Tape``/``watch``/``gradient`` in TensorFlow style, and
``Variable(..., requires_grad=True)``/``backward()``/``.grad`` in PyTorch style.

>>> import numpy as np, tape
>>> with tape.Tape() as t:
...     x = t.watch(np.array(2.0))
...     y = x * x
>>> t.gradient(y, x)
array(4.)
"""

from .functional import grad
from .tape import Tape, current
from .variable import Variable, value_of

__all__ = ["Tape", "Variable", "current", "grad", "value_of"]
