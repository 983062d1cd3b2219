import sys

from rx_gateway.cli import main

sys.exit(main())
