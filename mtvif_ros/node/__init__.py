"""The ROS 2 layer: the fusion node, message conversions and a sample-scene player.

Everything here is thin; the work happens in the pure-Python modules of the package.
Importing it changes nothing process-wide: the host memory setting is the entry point's
decision (``mtvif_ros.node.main``).
"""
