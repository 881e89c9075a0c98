"""Command-line tools (demo, weights initialization; later replay, evaluation, export)."""
