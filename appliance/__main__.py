"""`python -m appliance` is the `dialbox` command."""

import sys

from appliance.cli import main

sys.exit(main())
