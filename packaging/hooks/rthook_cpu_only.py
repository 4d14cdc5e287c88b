# Runtime hook of the cpu flavour (runs before the app). That bundle keeps only the CUDA libraries
# torch needs in order to import; cuDNN's engines, cuSOLVER and NVRTC are left out, so a GPU run
# would fail half-way. Hiding every GPU from torch makes the app choose the CPU everywhere and say
# so ("CPU" in the status bar, no CUDA entry in the device menu).
import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""
