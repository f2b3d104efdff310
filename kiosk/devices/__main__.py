"""`python -m kiosk.devices`: the same as `corr-kiosk-devices`."""

import sys

from kiosk.devices.daemon import main

sys.exit(main())
