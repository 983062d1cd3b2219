import sys

from rx_gateway.launch import main

sys.exit(main())
