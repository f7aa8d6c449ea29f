"""ProDa: Programming with Data.

A knowledge graph (L1 concepts, L2 relations, L3 chains) is the single specification from which
both the benchmark and the training data are derived; see ``proda --help``.
"""

__version__ = "0.1.0"
