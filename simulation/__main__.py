"""`python -m simulation`: the simulator's command line."""

import sys

from simulation.cli import main

sys.exit(main())
