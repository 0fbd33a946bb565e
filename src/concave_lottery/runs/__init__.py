"""Runs: the run config and presets, one training phase, the lottery loop of Algorithm 1 (and IMP)
with its resumable run directory, the result records and provenance, and sweeps of many runs."""
