"""The switch ``dualad.compile``'s tracer turns on while it records a program.

While ``ACTIVE`` is a tracer (dualad._compile.trace), the places where a value computed from
the traced inputs leaves the derivative machinery (a comparison, ``bool()``, an ``argmax``, a
result without a derivative) hand it to the tracer, which follows it as a ``Flag`` and turns
every use Python makes of it into a guard. Otherwise (always, outside ``dualad.compile``)
nothing changes. Imports nothing.
"""

ACTIVE = None
