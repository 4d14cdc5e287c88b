"""How long GUI tests wait for a signal or a state before giving up.

Every wait ends the moment its condition holds, so a long limit costs nothing on a fast machine;
it only decides when a slow one gives up. The limits are generous on purpose: CI shares 2 cores
with other jobs, and the first test that imports torch (a CUDA build: gigabytes of shared
libraries, loaded while the import holds the GIL) can stall every Python thread, the GUI thread
included, for tens of seconds. A wait that must *not* see something (a signal that never comes)
uses its own short, explained limit instead.
"""

EVENT_MS = 120_000  # an image decode, a fake worker's reply, a queued signal, a dialog
MODEL_MS = 300_000  # building a model, real forward passes, a few training steps
