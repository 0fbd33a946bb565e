"""Concave-regularised lottery tickets: the library behind the reproduction book.

Reference implementation of Fracastoro, Fosson, Migliorati and Calafiore, *Playing the Lottery
With Concave Regularizers for Sparse Trainable Neural Networks*, IEEE TNNLS 2025.
"""

__version__ = "0.1.0"
