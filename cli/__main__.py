import sys

from painterly.cli.main import main

sys.exit(main())
