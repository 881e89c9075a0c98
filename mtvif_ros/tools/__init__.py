"""Command-line tools, one module per console script.

``bag`` (mtvif-bag: make, play, evaluate and check rosbag2 bags), ``eval`` (mtvif-eval:
dataset evaluation against classical baselines), ``export`` (mtvif-export: ONNX),
``bench`` (mtvif-bench: complexity and latency tables), ``demo`` (mtvif-demo: end-to-end
node demo or offline engine demo) and ``init_weights`` (mtvif-init-weights: an untrained
checkpoint).
"""
