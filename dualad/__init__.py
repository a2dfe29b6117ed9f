"""dualad: exact derivatives of ordinary NumPy code."""

from .dual import Dual

__all__ = ["Dual"]
__version__ = "0.1.0"
