"""Entry point of the frozen (PyInstaller) app: the `rnxstudio` command, plus two things a
frozen executable cannot otherwise do.

* ``rnxstudio -m rnxstudio[.cli] ARGS`` behaves like ``python -m rnxstudio.cli ARGS``: code that
  re-launches itself with ``sys.executable -m rnxstudio.cli`` (``bench all`` runs each benchmark
  in a subprocess) then works inside the bundle, where ``sys.executable`` is this program.
* ``RNXSTUDIO_FROZEN_SCRIPT=FILE.py rnxstudio ARGS`` runs FILE.py with the bundle's own
  interpreter and libraries instead of the app (``packaging/smoke_gui.py`` drives the GUI's
  pre-label action this way). Whoever can set a program's environment can already make it load
  any code (LD_PRELOAD, PYTHONSTARTUP for an unfrozen one), so this opens nothing new.
"""

from __future__ import annotations

import multiprocessing
import os
import sys

SCRIPT_ENV = "RNXSTUDIO_FROZEN_SCRIPT"
MODULE_ALIASES = ("rnxstudio", "rnxstudio.cli", "rnxstudio.__main__")


def main() -> int:
    multiprocessing.freeze_support()  # a spawned worker process must not start the app again
    script = os.environ.get(SCRIPT_ENV)
    if script:
        import runpy

        del os.environ[SCRIPT_ENV]  # not inherited by anything the script starts
        sys.argv = [script, *sys.argv[1:]]
        runpy.run_path(script, run_name="__main__")
        return 0
    argv = sys.argv[1:]
    if len(argv) >= 2 and argv[0] == "-m" and argv[1] in MODULE_ALIASES:
        argv = argv[2:]
    from rnxstudio.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
