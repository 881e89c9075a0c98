"""The node's image outputs: which to publish for a frame, and the messages themselves.

Every output carries the visible image's header unchanged; the colour and overlay images
cost time to make, so they are made only while someone subscribes.
"""

from __future__ import annotations

import numpy as np
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, Image

from mtvif_ros.engine import FusionResult
from mtvif_ros.imaging import overlay
from mtvif_ros.node.camera_info import scaled_info
from mtvif_ros.node.conversions import ImageConverter
from mtvif_ros.node.interfaces import OUTPUT_INFO_TOPICS, OUTPUT_TOPICS
from mtvif_ros.params.settings import Settings

ON_DEMAND = ("color", "overlay")  # published only while subscribed


class OutputPublishers:
    """One publisher per output topic, and the rule that decides what is published."""

    def __init__(self, node: Node, qos: QoSProfile, converter: ImageConverter) -> None:
        self.converter = converter
        # rclpy's standard QoS overrides (qos_overrides.<topic>.publisher.*) apply
        overrides = QoSOverridingOptions.with_default_policies
        self.pubs = {
            k: node.create_publisher(Image, t, qos, qos_overriding_options=overrides())
            for k, t in OUTPUT_TOPICS.items()
        }
        self.info_pubs = {
            k: node.create_publisher(CameraInfo, t, qos, qos_overriding_options=overrides())
            for k, t in OUTPUT_INFO_TOPICS.items()
        }

    def wanted(self, kind: str, settings: Settings) -> Publisher | None:
        """The publisher of ``kind`` if it is switched on (and, for the on-demand outputs,
        subscribed), else None."""
        pub = self.pubs[kind]
        if not settings[f"publish.{kind}"]:
            return None
        if kind in ON_DEMAND and pub.get_subscription_count() == 0:
            return None
        return pub

    def publish(
        self,
        result: FusionResult,
        header,
        settings: Settings,
        lut: np.ndarray,
        info: CameraInfo | None = None,
    ) -> None:
        """Publish the outputs of one frame with ``header`` (the visible image's), and
        with them ``info`` (the visible camera's calibration), if there is one."""
        to_msg = self.converter.to_msg
        if info is not None:
            h, w = result.labels.shape
            info = scaled_info(info, w, h, header)
        if (pub := self.wanted("fused", settings)) is not None:
            pub.publish(to_msg(result.fused, "bgr8", header))
            if info is not None:
                self.info_pubs["fused"].publish(info)
        if (pub := self.wanted("labels", settings)) is not None:
            pub.publish(to_msg(result.labels, "mono8", header))
            if info is not None:
                self.info_pubs["labels"].publish(info)
        if (pub := self.wanted("color", settings)) is not None:
            pub.publish(to_msg(lut[result.labels], "rgb8", header))
        if (pub := self.wanted("overlay", settings)) is not None:
            over = overlay(result.fused, result.labels, lut, settings["overlay.alpha"])
            pub.publish(to_msg(over, "bgr8", header))
