"""The ROS 2 layer: the fusion node, message conversions and a sample-scene player.

Everything here is thin; the work happens in the pure-Python modules of the package.

Importing it applies ``keep_freed_memory`` before numpy, torch and rclpy start their
threads: glibc binds each thread to a malloc arena once, and only if the node's inference
worker shares the main heap are its freed activations reused instead of faulted in again
(see ``mtvif_ros.host_memory``).
"""

from mtvif_ros.host_memory import keep_freed_memory

keep_freed_memory()
