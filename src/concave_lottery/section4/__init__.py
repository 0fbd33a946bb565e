"""The numerics of Section IV: Problem (4) on convex losses, the bounds of Theorems 1-2 and Lemma 1,
the two-dimensional toy problems and the MNIST 0-vs-1 logistic example."""
