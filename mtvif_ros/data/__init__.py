"""Datasets. For now: the project's own deterministic sample scene (no third-party data)."""

from mtvif_ros.data.sample_scene import SampleScene, make_scene, sample_scenes, sample_sequence

__all__ = ["SampleScene", "make_scene", "sample_scenes", "sample_sequence"]
