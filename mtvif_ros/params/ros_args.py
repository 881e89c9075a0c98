"""Reading one parameter from a ROS command line without rclpy (for entry points that
decide something before the heavy imports).

Follows rclpy's order: parameter files in order, then ``-p``/``--param`` overrides; node
sections named ``/**`` or with any node name count (the entry point starts one node).
Unreadable files are skipped here: the node itself reports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml


def requested_parameter(argv: Sequence[str], name: str) -> str | None:
    """The value ``name`` gets from ``argv``'s ``--ros-args`` section, as text, or None."""
    value: str | None = None
    args = _ros_args(argv)
    for i, arg in enumerate(args[:-1]):
        nxt = args[i + 1]
        if arg == "--params-file":
            found = _from_params_file(nxt, name)
            value = value if found is None else found
    for i, arg in enumerate(args[:-1]):
        nxt = args[i + 1]
        if arg in ("-p", "--param") and nxt.startswith(f"{name}:="):
            value = nxt.split(":=", 1)[1]
    return value


def _ros_args(argv: Sequence[str]) -> list[str]:
    """The arguments inside ``--ros-args … [--]`` sections."""
    out, inside = [], False
    for arg in argv:
        if arg == "--ros-args":
            inside = True
        elif arg == "--" and inside:
            inside = False
        elif inside:
            out.append(arg)
    return out


def _from_params_file(path: str, name: str) -> str | None:
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(doc, dict):
        return None
    for section in doc.values():
        params = section.get("ros__parameters") if isinstance(section, dict) else None
        if isinstance(params, dict):
            value = _lookup(params, name.split("."))
            if value is not None:
                return str(value)
    return None


def _lookup(tree: dict[str, Any], parts: list[str]) -> Any:
    """``a.b.c`` as nested keys, or as a flat dotted key at any level."""
    joined = ".".join(parts)
    if joined in tree:
        return tree[joined]
    head = tree.get(parts[0])
    return _lookup(head, parts[1:]) if isinstance(head, dict) and len(parts) > 1 else None
