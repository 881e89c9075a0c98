"""Datasets: the project's own sample scenes and loaders for real registered pair sets."""

from mtvif_ros.data.datasets import (
    Pair,
    PairItem,
    PairList,
    SyntheticScenes,
    folder_pairs,
    manifest_pairs,
    msrs_pairs,
)
from mtvif_ros.data.sample_scene import SampleScene, make_scene, sample_scenes, sample_sequence

__all__ = [
    "Pair",
    "PairItem",
    "PairList",
    "SampleScene",
    "SyntheticScenes",
    "folder_pairs",
    "make_scene",
    "manifest_pairs",
    "msrs_pairs",
    "sample_scenes",
    "sample_sequence",
]
