"""The evidence: tickets and matched-sparsity analysis, the paper's claims checked on recorded runs,
the evidence tiers (live, recorded, paper), Table III timings, the paper's own numbers and the figures."""
