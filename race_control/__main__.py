import sys

from race_control.cli import main

sys.exit(main())
