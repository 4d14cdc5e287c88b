# Overrides the contributed hook, which asks for a `torchvision.image` module that no longer
# exists (the image library is collected by hook-torchvision.py as a shared library).
