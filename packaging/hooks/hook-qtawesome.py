# qtawesome loads its icon fonts and their charmaps from the files next to its __init__.py.
from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("qtawesome", excludes=["**/tests/**"])
