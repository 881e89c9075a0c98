"""A small, deterministic generator of registered IR/visible road scenes with labels.

It is the project's own data: tests, the demo and (later) synthetic training batches use
it, so nothing from third-party datasets is committed. A scene is drawn once into three
canvases (visible BGR, IR counts, MSRS class ids) from the same polygons, so the three are
registered pixel-exactly. Physics is rough but directionally right: people and engines
are hot, the sky is cold, asphalt holds heat at night; at night the visible image is dark
and noisy while the IR image is not, which is the case fusion exists for.

IR is 14-bit counts in uint16 (like a radiometric LWIR core); visible is BGR uint8.
Same arguments give identical arrays with one OpenCV; OpenCV 5 rasterizes polygon edges
slightly differently from 4.x (about 0.3 % of the pixels of a scene, all on edges).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

# MSRS ids used by the generator
UNLABELLED, CAR, PERSON, CURVE, COLOR_CONE = 0, 1, 2, 4, 7

# IR counts (14-bit) of the materials, day / night
_IR = {
    "sky": (6900, 6700),
    "ground": (7700, 7350),
    "road": (7950, 7700),
    "kerb": (7800, 7500),
    "lane": (7850, 7600),
    "car_body": (8150, 7900),
    "car_hot": (8900, 8700),
    "person": (9100, 9050),
    "cone": (7750, 7450),
}


@dataclass
class SampleScene:
    """One registered pair with labels. ``ir``: H×W uint16, ``vis``: H×W×3 BGR uint8,
    ``labels``: H×W uint8 MSRS class ids."""

    ir: np.ndarray
    vis: np.ndarray
    labels: np.ndarray
    night: bool
    name: str


class _Canvas:
    """Three aligned images drawn together."""

    def __init__(self, h: int, w: int) -> None:
        self.vis = np.zeros((h, w, 3), np.uint8)
        self.ir = np.zeros((h, w), np.float32)
        self.labels = np.zeros((h, w), np.uint8)

    def poly(self, pts: np.ndarray, bgr: tuple[int, ...], ir: float, label: int | None) -> None:
        pts = np.round(pts).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(self.vis, [pts], tuple(int(c) for c in bgr), cv2.LINE_AA)
        cv2.fillPoly(self.ir, [pts], float(ir), cv2.LINE_8)
        if label is not None:
            cv2.fillPoly(self.labels, [pts], int(label), cv2.LINE_8)

    def rect(self, x0: float, y0: float, x1: float, y1: float, bgr, ir, label) -> None:
        self.poly(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), bgr, ir, label)

    def ellipse(self, cx, cy, ax, ay, bgr, ir, label) -> None:
        centre, axes = (int(np.rint(cx)), int(np.rint(cy))), (max(1, int(ax)), max(1, int(ay)))
        cv2.ellipse(self.vis, centre, axes, 0, 0, 360, tuple(int(c) for c in bgr), -1, cv2.LINE_AA)
        cv2.ellipse(self.ir, centre, axes, 0, 0, 360, float(ir), -1)
        if label is not None:
            cv2.ellipse(self.labels, centre, axes, 0, 0, 360, int(label), -1)


@dataclass(frozen=True)
class _Layout:
    """Where the road is: image size, horizon row, vanishing point column and the road's
    half width at the bottom row (all in pixels)."""

    h: int
    w: int
    horizon: float
    vp_x: float
    road_half: float


def make_scene(
    seed: int = 0,
    height: int = 480,
    width: int = 640,
    night: bool = False,
    t: float = 0.0,
) -> SampleScene:
    """Draw one scene. Same arguments → identical arrays. ``t`` (s) moves the objects."""
    rng = np.random.default_rng(seed)  # drawn in a fixed order: layout, objects, noise
    horizon = height * rng.uniform(0.36, 0.46)
    vp_x = width * rng.uniform(0.4, 0.6)
    lay = _Layout(height, width, horizon, vp_x, width * rng.uniform(0.45, 0.6))
    c = _Canvas(height, width)
    _draw_sky(c, lay, night)
    _draw_road(c, lay, night)
    for obj in _pick_objects(rng):  # far to near so nearer ones occlude
        _draw_object(c, rng, lay, obj, t, night)
    return _finish(c, rng, seed, night)


def _draw_sky(c: _Canvas, lay: _Layout, night: bool) -> None:
    """Vertical gradient down to the horizon, in visible and IR."""
    sky_top = np.array((120, 60, 20) if night else (235, 200, 150), np.float32)
    sky_low = np.array((60, 35, 25) if night else (250, 230, 210), np.float32)
    ramp = np.linspace(0, 1, int(lay.horizon) + 1, dtype=np.float32)[:, None, None]
    c.vis[: int(lay.horizon) + 1] = (sky_top * (1 - ramp) + sky_low * ramp).astype(np.uint8)
    c.ir[: int(lay.horizon) + 1] = _IR["sky"][int(night)] + 300 * ramp[:, :, 0]


def _draw_road(c: _Canvas, lay: _Layout, night: bool) -> None:
    """Ground, the road to the vanishing point, kerbs (MSRS "curve") and a dashed lane."""
    k = int(night)
    h, w, horizon, vp_x, road_half = lay.h, lay.w, lay.horizon, lay.vp_x, lay.road_half
    c.rect(0, horizon, w, h, (35, 40, 30) if night else (60, 130, 90), _IR["ground"][k], None)
    road = np.array(
        [[vp_x - 2, horizon], [vp_x + 2, horizon], [vp_x + road_half, h], [vp_x - road_half, h]]
    )
    c.poly(road, (28, 28, 30) if night else (105, 105, 110), _IR["road"][k], None)
    # kerbs: strips along both road edges
    for side in (-1, 1):
        outer = np.array([[vp_x + side * 2, horizon], [vp_x + side * (road_half + w * 0.04), h]])
        inner = np.array([[vp_x + side * 1, horizon], [vp_x + side * road_half, h]])
        strip = np.array([inner[0], outer[0], outer[1], inner[1]])
        c.poly(strip, (70, 70, 80) if night else (190, 190, 200), _IR["kerb"][k], CURVE)
    # dashed lane marking, unlabelled (MSRS has no lane class)
    for i in range(8):
        a, b = (i + 0.2) / 8, (i + 0.6) / 8
        ya, yb = horizon + (h - horizon) * a**1.5, horizon + (h - horizon) * b**1.5
        wa, wb = 1 + 6 * a**1.5 * w / 640, 1 + 6 * b**1.5 * w / 640
        c.poly(
            np.array([[vp_x - wa, ya], [vp_x + wa, ya], [vp_x + wb, yb], [vp_x - wb, yb]]),
            (110, 110, 120) if night else (235, 235, 235),
            _IR["lane"][k],
            None,
        )


_Object = tuple[str, float, float, float]  # kind, depth (0 horizon..1 bottom), lateral, speed


def _pick_objects(rng: np.random.Generator) -> list[_Object]:
    """1-3 cars, 1-3 people beside the road and maybe a cone, sorted far to near."""
    objects: list[_Object] = []
    for _ in range(rng.integers(1, 4)):
        objects.append(
            ("car", rng.uniform(0.15, 0.95), rng.uniform(-0.7, 0.7), rng.uniform(-0.2, 0.2))
        )
    for _ in range(rng.integers(1, 4)):
        objects.append(
            (
                "person",
                rng.uniform(0.2, 1.0),
                rng.choice((-1, 1)) * rng.uniform(0.8, 1.3),
                rng.uniform(-0.05, 0.05),
            )
        )
    if rng.random() < 0.5:
        objects.append(("cone", rng.uniform(0.3, 0.9), rng.uniform(-0.8, 0.8), 0.0))
    objects.sort(key=lambda o: o[1])
    return objects


def _draw_object(
    c: _Canvas, rng: np.random.Generator, lay: _Layout, obj: _Object, t: float, night: bool
) -> None:
    """One object in perspective (scale 0 at the horizon), moved by ``speed * t``."""
    kind, depth, lateral, speed = obj
    h, w, horizon = lay.h, lay.w, lay.horizon
    y = horizon + (h - horizon) * depth
    s = (y - horizon) / (h - horizon)  # perspective scale, 0 at horizon
    x = lay.vp_x + lateral * lay.road_half * s + speed * t * w * s
    if kind == "car":
        _draw_car(c, rng, x, y, s * w * 0.32, night)
    elif kind == "person":
        _draw_person(c, rng, x, y, s * h * 0.42, night)
    else:
        cw = s * w * 0.03
        c.poly(
            np.array([[x - cw, y], [x + cw, y], [x, y - 2.5 * cw]]),
            (0, 90, 220) if not night else (0, 30, 70),
            _IR["cone"][int(night)],
            COLOR_CONE,
        )


def _finish(c: _Canvas, rng: np.random.Generator, seed: int, night: bool) -> SampleScene:
    """Sensor look: dark, noisy visible at night; slightly blurred, noisy 14-bit IR."""
    h, w = c.labels.shape
    vis = c.vis.astype(np.float32)
    if night:
        vis *= 0.6
    vis += rng.normal(0, 9.0 if night else 3.0, vis.shape).astype(np.float32)
    ir = cv2.GaussianBlur(c.ir, (0, 0), 1.0 * max(h, w) / 640)
    ir += rng.normal(0, 12.0, ir.shape).astype(np.float32)
    return SampleScene(
        ir=np.clip(ir, 0, 16383).astype(np.uint16),
        vis=np.clip(vis + 0.5, 0, 255).astype(np.uint8),
        labels=c.labels,
        night=night,
        name=f"sample_{'night' if night else 'day'}_{seed:03d}",
    )


def _draw_car(
    c: _Canvas, rng: np.random.Generator, x: float, y: float, cw: float, night: bool
) -> None:
    k = int(night)
    ch = 0.45 * cw
    paint = tuple(int(v) for v in rng.integers(30, 220, 3))
    body = paint if not night else tuple(v // 5 for v in paint)
    c.rect(x - cw / 2, y - ch * 0.65, x + cw / 2, y, body, _IR["car_body"][k], CAR)
    c.poly(
        np.array(
            [
                [x - cw * 0.32, y - ch * 0.65],
                [x + cw * 0.32, y - ch * 0.65],
                [x + cw * 0.22, y - ch],
                [x - cw * 0.22, y - ch],
            ]
        ),
        (60, 50, 40) if not night else (15, 12, 10),
        _IR["car_body"][k] - 100,
        CAR,
    )
    for side in (-1, 1):  # wheels (hot) and lights (bright in visible at night)
        c.ellipse(
            x + side * cw * 0.32, y, cw * 0.09, ch * 0.12, (20, 20, 20), _IR["car_hot"][k], CAR
        )
        light = (200, 240, 255) if night else (180, 200, 210)
        c.ellipse(
            x + side * cw * 0.38,
            y - ch * 0.4,
            cw * 0.05,
            ch * 0.05,
            light,
            _IR["car_body"][k] + 200,
            CAR,
        )
    c.rect(x - cw * 0.15, y - ch * 0.3, x + cw * 0.15, y - ch * 0.1, body, _IR["car_hot"][k], CAR)


def _draw_person(
    c: _Canvas, rng: np.random.Generator, x: float, y: float, ph: float, night: bool
) -> None:
    k = int(night)
    cloth = tuple(int(v) for v in rng.integers(20, 200, 3))
    if night:
        cloth = tuple(v // 6 for v in cloth)
    skin = (120, 150, 190) if not night else (20, 25, 30)
    hot = _IR["person"][k]
    pw = ph * 0.28
    c.rect(x - pw * 0.35, y - ph * 0.5, x - pw * 0.05, y, cloth, hot - 250, PERSON)  # legs
    c.rect(x + pw * 0.05, y - ph * 0.5, x + pw * 0.35, y, cloth, hot - 250, PERSON)
    c.ellipse(x, y - ph * 0.64, pw * 0.5, ph * 0.2, cloth, hot - 100, PERSON)  # torso
    c.ellipse(x, y - ph * 0.9, pw * 0.25, ph * 0.09, skin, hot + 150, PERSON)  # head


def sample_scenes(count: int = 4, height: int = 480, width: int = 640) -> list[SampleScene]:
    """``count`` scenes alternating day and night, seeds 0..count-1."""
    return [make_scene(i, height, width, night=bool(i % 2)) for i in range(count)]


def sample_sequence(
    frames: int,
    fps: float = 10.0,
    seed: int = 0,
    night: bool = False,
    height: int = 480,
    width: int = 640,
) -> Iterator[SampleScene]:
    """A short clip of one scene with objects moving, for replay through the node."""
    for i in range(frames):
        scene = make_scene(seed, height, width, night, t=i / fps)
        scene.name = f"{scene.name}_f{i:04d}"
        yield scene
