import sys

from facebench.cli import main

sys.exit(main())
