"""``python -m mtvif_ros.node --ros-args ...`` for installs without ``ros2 run``."""

import sys

from mtvif_ros.node.main import main

sys.exit(main())
