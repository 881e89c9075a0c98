"""Evaluation metrics (pure numpy/OpenCV): fusion metrics, segmentation IoU, box scores."""

from mtvif_ros.metrics.boxes import BoxScores, box_table
from mtvif_ros.metrics.fusion import FUSION_KEYS, fusion_metrics
from mtvif_ros.metrics.segmentation import (
    MSRS_SHORT,
    ConfusionMatrix,
    iou_table_header,
    iou_table_row,
)

__all__ = [
    "FUSION_KEYS",
    "MSRS_SHORT",
    "BoxScores",
    "ConfusionMatrix",
    "box_table",
    "fusion_metrics",
    "iou_table_header",
    "iou_table_row",
]
