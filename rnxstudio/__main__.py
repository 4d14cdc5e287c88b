"""`python -m rnxstudio` is the same as the `rnxstudio` console script."""

import sys

from rnxstudio.cli import main

if __name__ == "__main__":
    sys.exit(main())
