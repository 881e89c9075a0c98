"""mtvif_ros: visible + infrared image fusion and semantic segmentation for ROS 2.

One multi-task network (MultiTaskVIF) turns a registered infrared/visible pair into a fused
image and a semantic label image in one pass. Everything except the node is pure Python
(no rclpy) so the offline tools and tests share it.
"""

__version__ = "0.1.0"
