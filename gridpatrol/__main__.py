import sys

from gridpatrol.cli import main

sys.exit(main())
