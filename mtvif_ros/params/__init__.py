"""The node's parameters, once: the table (name, type, default, limits, choices, read-only),
their validation into ``Settings`` (the node and the offline tools), the option grammar
(device, precision, backend) and reading ``--ros-args`` before anything starts.

Pure Python (no rclpy, no torch). Import from the modules: ``params.table``,
``params.settings``, ``params.options``, ``params.ros_args``.
"""
