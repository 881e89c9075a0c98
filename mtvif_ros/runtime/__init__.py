"""The rclpy-free half of the node, shared with the offline tools: the frame pipeline
(registration, checks, the engine), IR/visible pairing, the IR drop-out policy, the
one-slot mailbox, the counters behind ``/diagnostics`` and stamp helpers.

Import from the modules (``runtime.pipeline``, ``runtime.sync``, …): the pipeline loads
torch, the rest does not.
"""
