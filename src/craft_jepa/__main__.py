import sys

from craft_jepa.cli.main import main

sys.exit(main())
