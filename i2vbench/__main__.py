import sys

from i2vbench.cli import main

sys.exit(main())
