"""The switch ``dualad.compile``'s tracer turns on while it records a program.

While ``ACTIVE`` is a tracer (dualad._compile.trace), the places where a value computed from
the traced inputs leaves the derivative machinery (a comparison, ``bool()``, an ``argmax``, a
result without a derivative) hand it to the tracer, which follows it as a ``Flag`` and turns
every use Python makes of it into a guard. Otherwise (always, outside ``dualad.compile``)
nothing changes. Imports nothing.
"""

ACTIVE = None


def decide(func, *args, **kwargs):
    """``func(*args, **kwargs)`` on the values of ``args``, without a derivative: a decision
    a rule makes from values (a mask, the shift of a ``logsumexp``, a sign).

    Outside ``dualad.compile`` it is computed now, on the stripped values. Under its tracer
    it is a step of the recorded program (a followed value, made again at each call): the
    result stays data-dependent where NumPy calls use it, and becomes a guard where Python
    reads it (``if``, ``bool()``, an index).
    """
    if ACTIVE is not None:
        return ACTIVE.plain(func, args, kwargs)
    from dualad._ops import strip

    return func(*[strip(a) for a in args], **{k: strip(v) for k, v in kwargs.items()})
