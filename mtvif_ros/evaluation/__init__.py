"""Offline evaluation: running networks and classical baselines over datasets
(``evaluation.run``), the classical baselines themselves (``evaluation.baselines``) and
the reports and figures (``evaluation.report``). The metrics live in ``mtvif_ros.metrics``.
"""
