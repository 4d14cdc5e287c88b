# torchvision's compiled operators (nms, roi_align, ...) are not Python modules: torchvision finds
# its op library (`_C.so` up to 0.28, `_C_stable.so` from 0.29, `image*.so` for image decoding)
# next to its own __init__.py and hands it to torch.ops.load_library. Without the file every
# detector dies with "operator torchvision::nms does not exist". The contributed hook names the
# old `torchvision._C` module, which 0.29 no longer has, so this hook (user hooks win over
# contributed ones) collects every shared library in the package instead; PyInstaller's
# dependency analysis then brings what those link (torchvision.libs, torch's libraries).
from PyInstaller.utils.hooks import collect_dynamic_libs

binaries = collect_dynamic_libs("torchvision", search_patterns=["*.so", "*.pyd", "*.dll", "*.dylib"])

# As the contributed hook: torchvision's models are scripted/traced by torch.jit, which reads
# their Python source, so keep the .py files next to the byte code.
module_collection_mode = "pyz+py"
