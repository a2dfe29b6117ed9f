"""asv benchmarks for dualad, mirroring the package layout: forward, tape, api.

Every benchmark class times a dualad run next to its plain-NumPy baseline (``time_plain``), so
asv shows the overhead ratio directly. ``asv_bench/ratios.py`` runs the same classes in one
process and prints the ratios against their targets.
"""

import os

# single-threaded BLAS so the baseline matmuls and dualad's do not fight over the cores; set
# before NumPy is first imported (asv imports this package in a fresh process)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
