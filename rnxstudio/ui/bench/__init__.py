"""The benchmarks that drive Qt widgets (canvas, GUI stall, navigation); the others, and the
registry that runs them all, are in :mod:`rnxstudio.bench`."""
