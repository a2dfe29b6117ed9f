"""A simulated device array: behaves like CuPy for dispatch and refuses host conversion.

``np.asarray(DeviceArray)`` raises, as CuPy does, so a test run through it proves that no
code path copies data to host NumPy behind the user's back.
"""

from __future__ import annotations

import numpy as np


def _unwrap(x):
    if isinstance(x, DeviceArray):
        return x.a
    if type(x) in (list, tuple):
        return type(x)(_unwrap(v) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _wrap(x):
    if isinstance(x, (np.ndarray, np.generic)):
        return DeviceArray(x)
    if type(x) in (list, tuple):
        return type(x)(_wrap(v) for v in x)
    return x


class DeviceArray:
    """Holds a NumPy array 'on the device'."""

    __array_priority__ = 50

    def __init__(self, a):
        self.a = np.asarray(a)

    shape = property(lambda self: self.a.shape)
    ndim = property(lambda self: self.a.ndim)
    dtype = property(lambda self: self.a.dtype)
    size = property(lambda self: self.a.size)
    T = property(lambda self: DeviceArray(self.a.T))
    base = None
    flags = property(lambda self: self.a.flags)

    def __array__(self, dtype=None, copy=None):
        raise TypeError("implicit conversion of a device array to a host NumPy array")

    def get(self):
        return self.a

    def __len__(self):
        return len(self.a)

    def __repr__(self):
        return f"DeviceArray({self.a!r})"

    def __getitem__(self, key):
        return _wrap(self.a[_unwrap(key)])

    def __setitem__(self, key, value):
        self.a[_unwrap(key)] = _unwrap(value)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        for x in inputs:
            if hasattr(x, "__array_ufunc__") and not isinstance(
                x, (DeviceArray, np.ndarray, np.generic)
            ):
                return NotImplemented
        if "out" in kwargs:
            kwargs["out"] = tuple(_unwrap(o) for o in kwargs["out"])
        return _wrap(getattr(ufunc, method)(*_unwrap(inputs), **_unwrap(kwargs)))

    def __array_function__(self, func, types, args, kwargs):
        for t in types:
            if not issubclass(t, (DeviceArray, np.ndarray)):
                return NotImplemented
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    def reshape(self, *shape):
        return DeviceArray(self.a.reshape(*shape))

    def astype(self, dtype, copy=True):
        return DeviceArray(self.a.astype(dtype, copy=copy))

    def copy(self):
        return DeviceArray(self.a.copy())

    def sum(self, *args, **kwargs):
        return _wrap(self.a.sum(*args, **kwargs))

    def __neg__(self):
        return DeviceArray(-self.a)

    def __add__(self, o):
        return np.add(self, o)

    __radd__ = __add__

    def __sub__(self, o):
        return np.subtract(self, o)

    def __rsub__(self, o):
        return np.subtract(o, self)

    def __mul__(self, o):
        return np.multiply(self, o)

    __rmul__ = __mul__

    def __truediv__(self, o):
        return np.divide(self, o)

    def __rtruediv__(self, o):
        return np.divide(o, self)

    def __pow__(self, o):
        return np.power(self, o)

    def __matmul__(self, o):
        return np.matmul(self, o)

    def __rmatmul__(self, o):
        return np.matmul(o, self)

    def __iadd__(self, o):
        self.a += _unwrap(o)
        return self

    def __imul__(self, o):
        self.a *= _unwrap(o)
        return self

    def __gt__(self, o):
        return _wrap(self.a > _unwrap(o))

    def __lt__(self, o):
        return _wrap(self.a < _unwrap(o))

    def __eq__(self, o):
        return _wrap(self.a == _unwrap(o))
