"""``python -m backend.sample``: regenerate the bundled sample sheet."""

import sys

from backend.sample.generate import main

if __name__ == "__main__":
    sys.exit(main())
