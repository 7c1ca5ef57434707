"""Limits of a labelling job, shared by the library and the command line (which checks them as options).

Kept in a module of their own, importing nothing, so the command line can
name them without loading the labelling machinery.
"""

MAX_BATCH_SIZE = 100_000
MAX_WORKERS = 256
DUPLICATE_WINDOW = 10_000  # ids held exactly for the duplicate check; older ones only probably
