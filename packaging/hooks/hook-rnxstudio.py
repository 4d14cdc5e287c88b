# Every rnxstudio module, whether imported statically or by name (CLI subcommands, GUI features,
# benchmarks and zoo entries are imported through importlib), plus any data file that lives inside
# the package. Generic on purpose: modules that other branches add or move are picked up without
# editing the spec.
from PyInstaller.utils.hooks import collect_data_files, collect_submodules

hiddenimports = collect_submodules("rnxstudio")
datas = collect_data_files("rnxstudio")
