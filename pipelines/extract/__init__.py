"""Top-down extraction: L3 chains first, decomposed into L2 triples, L1 concepts harvested from them."""
