"""The book pipeline: chapters, parameters and profiles, the execution cache, papermill execution, the
HTML build and publishing (``lottery book …`` and ``python -m concave_lottery.book …``).

Nothing in the library imports this package: it is loaded only by ``lottery book`` and by ``make book``.
"""
