"""Evaluation metrics (pure numpy): segmentation now; fusion metrics follow."""

from mtvif_ros.metrics.segmentation import (
    MSRS_SHORT,
    ConfusionMatrix,
    iou_table_header,
    iou_table_row,
)

__all__ = ["MSRS_SHORT", "ConfusionMatrix", "iou_table_header", "iou_table_row"]
