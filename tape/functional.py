"""``tape.grad``: gradients of outputs with respect to chosen Variables (torch.autograd.grad).

Imports the sweep and Variable only.
"""

from __future__ import annotations

from dualad._numpy import np

from .sweep import sweep
from .variable import Variable


def grad(output, inputs, grad_output=None, create_graph: bool = False):
    """d output / d inputs without touching ``.grad``; a list like ``inputs``.

    With ``create_graph=True`` the results are Variables on the same graph, so they can be
    differentiated again (grad-of-grad).

    >>> import numpy as np, tape
    >>> x = tape.Variable(np.array(3.0))
    >>> (g,) = tape.grad(x ** 3, [x], create_graph=True)
    >>> tape.grad(g, [x])[0]
    array(18.)
    """
    single = isinstance(inputs, Variable)
    inputs = [inputs] if single else list(inputs)
    shape = np.shape(output.value)
    if grad_output is None:
        if shape != ():
            raise ValueError("output is not a scalar: pass grad_output= of its shape")
        seed = np.ones_like(output.value, shape=(1,))
    else:
        seed = np.reshape(grad_output, (1,) + tuple(shape))
    if isinstance(output, Variable):
        bars = sweep([output], [seed], inputs, create_graph=create_graph)
    else:  # a constant: nothing reaches the inputs
        bars = [None] * len(inputs)
    res = [np.zeros_like(x.value) if b is None else b[0, ...] for x, b in zip(inputs, bars)]
    return res[0] if single else res
