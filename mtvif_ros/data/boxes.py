"""Object boxes in YOLO text files, as weak real labels for person, bike and car.

One line per box, ``cls cx cy w h`` with the centre and size normalized to [0, 1] by the
image's width and height (the format of the MSRS detection labels). YOLO class ids are
mapped to MSRS class ids; a line that cannot be read is named in ``problems`` and skipped,
never crashed on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# classes.txt of the MSRS detection labels: 0 person, 1 bicycle, 2 car → MSRS ids
YOLO_TO_MSRS: dict[int, int] = {0: 2, 1: 3, 2: 1}
BOX_CLASSES = (1, 2, 3)  # the MSRS ids boxes exist for: car, person, bike


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels (``x1``, ``y1`` exclusive) of MSRS class ``cls``."""

    cls: int
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def pixels(self, width: int, height: int) -> tuple[slice, slice]:
        """(rows, cols) slices of the pixels whose centres lie in the box, clipped."""
        r0, r1 = max(0, round(self.y0)), min(height, round(self.y1))
        c0, c1 = max(0, round(self.x0)), min(width, round(self.x1))
        return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))


def parse_yolo_boxes(
    text: str,
    width: int,
    height: int,
    source: str = "boxes",
    class_map: Mapping[int, int] = YOLO_TO_MSRS,
) -> tuple[list[Box], list[str]]:
    """(boxes in pixels, problems) of a YOLO box file's text for a ``width``×``height`` image."""
    boxes, problems = [], []
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            cls = int(fields[0])
            cx, cy, w, h = (float(v) for v in fields[1:])
        except ValueError:
            problems.append(f"{source}:{n}: expected 'cls cx cy w h', got {line.strip()[:60]!r}")
            continue
        if cls not in class_map:
            problems.append(f"{source}:{n}: class {cls} is not one of {sorted(class_map)}")
            continue
        if not all(0.0 <= v <= 1.0 for v in (cx, cy, w, h)) or w <= 0 or h <= 0:
            problems.append(f"{source}:{n}: values must be normalized to [0, 1] with w, h > 0")
            continue
        boxes.append(
            Box(
                class_map[cls],
                (cx - w / 2) * width,
                (cy - h / 2) * height,
                (cx + w / 2) * width,
                (cy + h / 2) * height,
            )
        )
    return boxes, problems


def read_yolo_boxes(
    path: str | Path, width: int, height: int, class_map: Mapping[int, int] = YOLO_TO_MSRS
) -> tuple[list[Box], list[str]]:
    """``parse_yolo_boxes`` of a file; a missing or unreadable file is one problem."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        return [], [f"{path}: cannot read ({type(exc).__name__})"]
    return parse_yolo_boxes(text, width, height, str(path), class_map)


def format_yolo_boxes(
    boxes: list[Box], width: int, height: int, class_map: Mapping[int, int] = YOLO_TO_MSRS
) -> str:
    """The YOLO text of pixel boxes of a ``width``×``height`` image (inverse of
    ``parse_yolo_boxes``; a class without a YOLO id is refused)."""
    to_yolo = {msrs: yolo for yolo, msrs in class_map.items()}
    lines = []
    for b in boxes:
        if b.cls not in to_yolo:
            raise ValueError(f"class {b.cls} has no YOLO id in {sorted(to_yolo)}")
        cx, cy = (b.x0 + b.x1) / 2 / width, (b.y0 + b.y1) / 2 / height
        w, h = (b.x1 - b.x0) / width, (b.y1 - b.y0) / height
        lines.append(f"{to_yolo[b.cls]} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return "".join(line + "\n" for line in lines)
