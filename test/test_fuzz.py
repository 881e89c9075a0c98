"""Property-based fuzzing (Hypothesis) of everything that takes outside input: the pairer,
image conversion (raw and compressed), the parameters, YOLO box files and manifests, and
checkpoint loading. Each target either works or refuses with its own named error, never
another exception. Example counts are bounded so the whole file runs in well under a
minute; ``FUZZ_EXAMPLES`` scales them (e.g. 20 for a long local run)."""

from __future__ import annotations

import io
import math
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is in requirements-dev.txt")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mtvif_ros.data.boxes import parse_yolo_boxes  # noqa: E402
from mtvif_ros.data.datasets import ManifestError, manifest_pairs  # noqa: E402
from mtvif_ros.imaging.compressed import decode_compressed  # noqa: E402
from mtvif_ros.imaging.encodings import ENCODINGS, EncodingError, check_layout, decode  # noqa: E402
from mtvif_ros.model import CheckpointError, ModelConfig, build_model  # noqa: E402
from mtvif_ros.model.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from mtvif_ros.params.settings import DEFAULTS, Settings, SettingsError  # noqa: E402
from mtvif_ros.runtime.sync import ApproxTimePairer  # noqa: E402

SCALE = float(os.environ.get("FUZZ_EXAMPLES", "1"))
MS = 1_000_000


def fuzz(n: int):
    """Hypothesis settings: ``n`` examples (× FUZZ_EXAMPLES), no per-example deadline."""
    return settings(
        max_examples=max(1, int(n * SCALE)),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        derandomize=True,  # the same cases on every CI run; FUZZ_EXAMPLES explores further
    )


# ----------------------------------------------------------------------- the pairer
STAMPS = st.one_of(
    st.integers(0, 3_000).map(lambda ms: ms * MS),  # a few seconds of camera time
    st.just(0),
    st.integers(0, 2**63 - 1),  # anything an int64 stamp can hold
)


@fuzz(1500)
@given(
    events=st.lists(st.tuples(st.integers(0, 1), STAMPS), max_size=120),
    queue=st.integers(1, 20),
    slop_ms=st.integers(1, 200),
)
def test_pairer_never_raises_never_pairs_beyond_slop_or_twice_and_accounts_for_all(
    events, queue, slop_ms
):
    pairer = ApproxTimePairer(slop_ms * MS, queue)
    added, used = [0, 0], set()
    for i, (stream, stamp) in enumerate(events):
        added[stream] += 1
        pair = pairer.add(stream, stamp, i)
        if pair is None:
            continue
        ir, vis, ir_ns, vis_ns = pair
        assert abs(ir_ns - vis_ns) < slop_ms * MS
        assert events[ir][0] == 0 and events[vis][0] == 1
        assert ir not in used and vis not in used
        used |= {ir, vis}
    stats, pending = pairer.stats, pairer.pending()
    for s in (0, 1):
        assert added[s] == stats.paired + stats.unmatched[s] + pending[s]
        assert pending[s] <= queue


# ------------------------------------------------------------------ image conversion
ENCODING_NAMES = st.one_of(
    st.sampled_from([*ENCODINGS, "bayer_rggb8", "yuv422", "16SC1", "", "MONO16", "mono16 "]),
    st.text(max_size=10),
)


@fuzz(1500)
@given(
    role=st.sampled_from(["ir", "visible"]),
    encoding=ENCODING_NAMES,
    height=st.integers(0, 24),
    width=st.integers(0, 24),
    step=st.integers(0, 120),
    nbytes=st.integers(0, 2_000),
    bigendian=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_raw_images_decode_correctly_or_raise_encoding_error(
    role, encoding, height, width, step, nbytes, bigendian, seed
):
    data = np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8).tobytes()
    try:
        check_layout(role, encoding, height, width, step, len(data))
    except EncodingError as exc:
        assert "\n" not in str(exc)
        return
    arr = decode(encoding, height, width, step, bigendian, data)
    dtype, channels = ENCODINGS[encoding]
    assert arr.dtype == dtype and arr.shape[:2] == (height, width)
    assert (arr.ndim == 2) == (channels == 1)
    first = np.frombuffer(data[: width * channels * dtype.itemsize], np.uint8)
    wire = dtype.newbyteorder(">" if bigendian else "<")
    expected_row = first.view(wire).astype(dtype).reshape(width, channels)
    assert np.array_equal(arr[0].reshape(width, channels), expected_row)


@fuzz(1000)
@given(
    role=st.sampled_from(["ir", "visible"]),
    fmt=st.one_of(
        st.sampled_from(["jpeg", "png", "mono16; png compressed", "rgb8; jpeg"]),
        st.text(max_size=20),
    ),
    payload=st.one_of(
        st.binary(max_size=400),
        st.builds(lambda b: b"\x89PNG\r\n\x1a\n" + b, st.binary(max_size=300)),
        st.builds(lambda b: b"\xff\xd8\xff\xe0" + b, st.binary(max_size=300)),
    ),
)
def test_compressed_payloads_decode_or_raise_encoding_error(role, fmt, payload):
    try:
        arr = decode_compressed(role, fmt, payload)
    except EncodingError as exc:
        assert "\n" not in str(exc)
        return
    assert arr.ndim in (2, 3) and arr.size > 0


def test_compressed_images_from_real_encoders_round_trip():
    import cv2

    ir = (np.arange(48 * 64, dtype=np.uint16) * 7).reshape(48, 64)
    png = cv2.imencode(".png", ir)[1].tobytes()
    assert np.array_equal(decode_compressed("ir", "mono16; png compressed", png), ir)
    colour = np.zeros((8, 8, 4), np.uint8)
    png4 = cv2.imencode(".png", colour)[1].tobytes()
    assert decode_compressed("visible", "png", png4).shape == (8, 8, 3)
    assert decode_compressed("ir", "png", png4).shape == (8, 8)


# ------------------------------------------------------------------------ parameters
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(
        st.one_of(st.integers(-5, 5), st.floats(-1e3, 1e3), st.text(max_size=3)), max_size=10
    ),
)


@fuzz(1500)
@given(changes=st.dictionaries(st.sampled_from(sorted(DEFAULTS)), VALUES, max_size=4))
def test_any_parameter_values_are_accepted_or_refused_with_a_reason(changes):
    try:
        s = Settings.from_mapping(changes)
    except SettingsError as exc:
        text = str(exc)
        assert "\n" not in text and any(name in text for name in changes), text
        return
    for name in ("sync.slop", "sync.warn_after", "diagnostics.period"):
        assert math.isfinite(float(s[name])) and float(s[name]) > 0


# ------------------------------------------------------------ box files and manifests
@fuzz(1500)
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.lists(
            st.lists(
                st.sampled_from(
                    ["0", "1", "2", "7", "-1", "0.5", "1.5", "nan", "inf", "1e-3", "x", "", "0.25"]
                ),
                max_size=7,
            ).map(" ".join),
            max_size=8,
        ).map("\n".join),
    )
)
def test_box_files_give_boxes_and_named_problems_never_a_crash(text):
    boxes, problems = parse_yolo_boxes(text, 64, 48, "f.txt")
    assert all(p.startswith("f.txt:") for p in problems)
    for b in boxes:  # may reach past the border (YOLO allows it); use clips (Box.pixels)
        assert all(map(math.isfinite, (b.x0, b.y0, b.x1, b.y1)))
        assert b.x0 < b.x1 and b.y0 < b.y1 and b.x1 > 0 and b.y1 > 0


HEADER = "set,name,ir_path,vi_path,width,height,split"


@fuzz(400)
@given(
    header=st.one_of(st.just(HEADER), st.text(max_size=40)),
    rows=st.lists(
        st.one_of(
            st.text(max_size=60),
            st.lists(
                st.sampled_from(
                    ["msrs", "a", "", "ir/a.png", "vi/a.png", "64", "-3", "test", "x,y", '"q']
                ),
                max_size=9,
            ).map(",".join),
        ),
        max_size=6,
    ),
)
def test_manifests_give_pairs_and_named_problems_never_a_crash(tmp_path_factory, header, rows):
    root = tmp_path_factory.mktemp("m")
    (root / "ir").mkdir()
    (root / "vi").mkdir()
    import cv2

    cv2.imwrite(str(root / "ir" / "a.png"), np.zeros((4, 4), np.uint8))
    cv2.imwrite(str(root / "vi" / "a.png"), np.zeros((4, 4, 3), np.uint8))
    manifest = root / "manifest.csv"
    manifest.write_text("\n".join([header, *rows]) + "\n")
    try:
        pairs = manifest_pairs(manifest, boxes_dirs=["boxes"])
    except ManifestError as exc:
        assert "\n" not in str(exc) and str(manifest) in str(exc)
        return
    assert all(isinstance(p, str) and "\n" not in p for p in pairs.problems)
    for i in range(len(pairs)):
        pairs[i]  # every listed pair can be read


# ------------------------------------------------------------------------ checkpoints
@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory) -> Path:
    cfg = ModelConfig(widths=[4, 8, 8], fusion_channels=8, seg_channels=8, attention_dim=4)
    path = tmp_path_factory.mktemp("ck") / "c.pt"
    save_checkpoint(path, build_model(cfg), cfg)
    return path


class _Sneaky:
    """Unpickling this would run code (create a marker file): weights_only must refuse."""

    marker: Path

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _mutations():
    return st.one_of(
        st.tuples(st.just("truncate"), st.floats(0, 1)),
        st.tuples(
            st.just("flip"),
            st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), min_size=1, max_size=8),
        ),
        st.tuples(st.just("wrong_key"), st.integers(0, 10_000)),
        st.tuples(st.just("wrong_shape"), st.integers(0, 10_000)),
        st.tuples(st.just("pickled_object"), st.just(0)),
        st.tuples(st.just("not_a_dict"), st.sampled_from([[], 3, "x", None])),
    )


@fuzz(150)
@given(mutation=_mutations())
def test_damaged_checkpoints_are_one_line_errors_and_never_run_code(
    good_checkpoint, tmp_path_factory, mutation
):
    import torch

    checkpoint_bytes = good_checkpoint.read_bytes()
    kind, arg = mutation
    tmp = tmp_path_factory.mktemp("bad")
    path, marker = tmp / "bad.pt", tmp / "code_ran"
    data = bytearray(checkpoint_bytes)
    if kind == "truncate":
        path.write_bytes(bytes(data[: int(arg * (len(data) - 1))]))
    elif kind == "flip":
        for where, xor in arg:
            data[int(where * (len(data) - 1))] ^= xor
        path.write_bytes(bytes(data))
    else:
        payload = torch.load(io.BytesIO(checkpoint_bytes), weights_only=True)
        state = payload["state_dict"]
        if kind in ("wrong_key", "wrong_shape"):
            key = sorted(state)[arg % len(state)]
        if kind == "wrong_key":
            state[key + ".renamed"] = state.pop(key)
        elif kind == "wrong_shape":
            state[key] = torch.zeros(*[s + 1 for s in state[key].shape], 1)
        elif kind == "pickled_object":
            _Sneaky.marker = marker
            payload["meta"] = {"x": _Sneaky()}
        else:
            payload = arg
        torch.save(payload, path)
    try:
        load_checkpoint(path)
    except CheckpointError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
    else:  # a flip can land in bytes nothing reads (zip padding): then it loads fine
        assert kind == "flip"
    assert not marker.exists(), "unpickling ran code"


def test_a_checkpoint_zip_with_a_malicious_pickle_is_refused(tmp_path):
    """The classic attack, written by hand: data.pkl whose unpickling calls os.system."""
    marker = tmp_path / "pwned"
    _Sneaky.marker = marker
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("evil/data.pkl", pickle.dumps({"format": "x", "obj": _Sneaky()}))
        z.writestr("evil/version", "3\n")
    with pytest.raises(CheckpointError, match=r"refused|cannot be read"):
        load_checkpoint(path)
    assert not marker.exists()
