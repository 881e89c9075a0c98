"""rosbag2 files without ROS (through the ``rosbags`` library): make, evaluate, latency.

Pure Python (no rclpy): MCAP and sqlite3 bags are read and written directly, so bags can be
built and evaluated on machines without a ROS install; playing a bag over DDS is in
``mtvif_ros.node.bag_player``.
"""
