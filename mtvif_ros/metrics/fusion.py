"""Objective image-fusion metrics, with the conventions of the Python evaluator behind the
recent MSRS tables (CDDFuse / EMMA / FILM family), so numbers are comparable to published ones.

All metrics work on grey images in the 0-255 scale as float64: colour (BGR) images are
converted with OpenCV's BGR2GRAY, which rounds to integers. F is the fused image, A the
infrared and B the visible source. Conventions that change numbers are stated per metric.

Traps this module avoids: MI on unrounded floats (every distinct float becomes a histogram
bin and MI explodes), VIF on [0, 1] images (its noise variance σn² = 2 assumes 0-255), and
SCD of a fused image equal to one source (a constant difference image: NaN, not an error).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

FUSION_KEYS = ("EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "SSIM", "PSNR", "CC")


def to_grey(img: np.ndarray) -> np.ndarray:
    """uint8 BGR H×W×3 or grey H×W → float64 grey in 0-255 (integer valued)."""
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    elif img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim != 2:
        raise ValueError(f"expected a grey H×W or BGR H×W×3 image, got shape {img.shape}")
    return img.astype(np.float64)


def entropy(f: np.ndarray) -> float:
    """EN: Shannon entropy (bits) of the 256-bin histogram of round(clip(F, 0, 255))."""
    a = np.clip(np.round(f), 0, 255).astype(np.int64).ravel()
    p = np.bincount(a, minlength=256) / a.size
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def sd(f: np.ndarray) -> float:
    """SD: population standard deviation (ddof = 0)."""
    return float(np.std(f))


def sf(f: np.ndarray) -> float:
    """SF: sqrt(mean squared horizontal neighbour difference + mean squared vertical one)."""
    rf = np.mean((f[:, 1:] - f[:, :-1]) ** 2)
    cf = np.mean((f[1:, :] - f[:-1, :]) ** 2)
    return float(np.sqrt(rf + cf))


def ag(f: np.ndarray) -> float:
    """AG: mean over all H·W pixels of sqrt((Gx² + Gy²)/2), numpy gradients (central
    differences inside, one-sided at the borders)."""
    gy, gx = np.gradient(f)
    return float(np.sqrt((gx**2 + gy**2) / 2).mean())


def mutual_information(x: np.ndarray, y: np.ndarray, base: float = math.e) -> float:
    """MI of two images from the 256×256 joint histogram of their integer grey levels.
    Natural log (nats) by default, as sklearn's mutual_info_score; ``base=2`` for bits."""
    a = np.clip(np.round(x), 0, 255).astype(np.int64).ravel()
    b = np.clip(np.round(y), 0, 255).astype(np.int64).ravel()
    joint = np.bincount(a * 256 + b, minlength=256 * 256).reshape(256, 256) / a.size
    pa, pb = joint.sum(1), joint.sum(0)
    nz = joint > 0
    mi = (joint[nz] * np.log(joint[nz] / (pa[:, None] * pb[None, :])[nz])).sum()
    return float(mi / math.log(base))


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; NaN when either image is constant."""
    xd, yd = x - x.mean(), y - y.mean()
    den = math.sqrt(float((xd**2).sum()) * float((yd**2).sum()))
    return float((xd * yd).sum() / den) if den > 0 else math.nan


def scd(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """SCD: corr(F − B, A) + corr(F − A, B); NaN if a difference image is constant."""
    return _corr(f - b, a) + _corr(f - a, b)


def cc(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """CC: mean of corr(A, F) and corr(B, F)."""
    return (_corr(a, f) + _corr(b, f)) / 2


def psnr(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """PSNR with peak 255 and the MSE averaged over the two sources."""
    mse = (np.mean((f - a) ** 2) + np.mean((f - b) ** 2)) / 2
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def _filter_valid(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """2-D filtering keeping only the 'valid' region (symmetric kernels: = convolution)."""
    r = kernel.shape[0] // 2
    out = cv2.filter2D(img, cv2.CV_64F, kernel, borderType=cv2.BORDER_CONSTANT)
    return out[r:-r, r:-r] if r else out


def _matlab_gaussian(n: int, sigma: float) -> np.ndarray:
    m = (n - 1) / 2
    y, x = np.ogrid[-m : m + 1, -m : m + 1]
    h = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    h[h < np.finfo(h.dtype).eps * h.max()] = 0
    return h / h.sum()


def vif(ref: np.ndarray, dist: np.ndarray) -> float:
    """Pixel-domain multi-scale VIF (Sheikh & Bovik; the LIVE 'vifvec' pixel version).

    4 scales; Gaussian windows of N = 17, 9, 5, 3 with σ = N/5; 'valid' filtering and
    decimation by 2 between scales; σn² = 2 on the 0-255 scale; numerator and denominator
    are summed over scales before dividing. A NaN result (flat reference) counts as 1.
    """
    ref, dist = ref.astype(np.float64), dist.astype(np.float64)
    sigma_nsq, eps = 2.0, 1e-10
    num = den = 0.0
    for scale in range(1, 5):
        n = 2 ** (4 - scale + 1) + 1
        win = _matlab_gaussian(n, n / 5.0)
        if scale > 1:
            ref = _filter_valid(ref, win)[::2, ::2]
            dist = _filter_valid(dist, win)[::2, ::2]
        mu1, mu2 = _filter_valid(ref, win), _filter_valid(dist, win)
        s1 = np.maximum(_filter_valid(ref * ref, win) - mu1 * mu1, 0)
        s2 = np.maximum(_filter_valid(dist * dist, win) - mu2 * mu2, 0)
        s12 = _filter_valid(ref * dist, win) - mu1 * mu2
        g = s12 / (s1 + eps)
        sv = s2 - g * s12
        flat1 = s1 < eps
        g[flat1] = 0
        sv[flat1] = s2[flat1]
        s1[flat1] = 0
        flat2 = s2 < eps
        g[flat2] = 0
        sv[flat2] = 0
        neg = g < 0
        sv[neg] = s2[neg]
        g[neg] = 0
        sv[sv <= eps] = eps
        num += float(np.sum(np.log10(1 + g * g * s1 / (sv + sigma_nsq))))
        den += float(np.sum(np.log10(1 + s1 / sigma_nsq)))
    value = num / den if den else math.nan
    return 1.0 if math.isnan(value) else value


_SOBEL_Y = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], np.float64)
_SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64)


def _conv_same(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """True convolution (kernel flipped), zero padding, output the input's size."""
    return cv2.filter2D(img, cv2.CV_64F, kernel[::-1, ::-1], borderType=cv2.BORDER_CONSTANT)


def _edges(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sx, sy = _conv_same(img, _SOBEL_X), _conv_same(img, _SOBEL_Y)
    g = np.sqrt(sx * sx + sy * sy)
    a = np.full(img.shape, math.pi / 2)
    nz = sx != 0
    a[nz] = np.arctan(sy[nz] / sx[nz])
    return g, a


def _edge_preservation(g_src, a_src, g_f, a_f) -> np.ndarray:
    tg, kg, dg, ta, ka, da = 0.9994, -15.0, 0.5, 0.9879, -22.0, 0.8
    lo, hi = np.minimum(g_src, g_f), np.maximum(g_src, g_f)
    with np.errstate(invalid="ignore", divide="ignore"):
        gaf = np.where(hi > 0, lo / hi, 0.0)
    aaf = 1 - np.abs(a_src - a_f) / (math.pi / 2)
    return tg / (1 + np.exp(kg * (gaf - dg))) * ta / (1 + np.exp(ka * (aaf - da)))


def qabf(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Qabf (Xydeas & Petrović): edge information of A and B preserved in F, weighted by
    the raw source edge strengths. Sobel by true convolution with zero padding ('same');
    orientation atan(Sy/Sx), π/2 where Sx = 0; Γg=0.9994 κg=−15 σg=0.5, Γα=0.9879 κα=−22
    σα=0.8. (Equal non-zero strengths give a strength ratio of 1; the reference code's
    quirk of using the raw strength there changes results by < 1e-6.)"""
    ga, aa = _edges(a)
    gb, ab = _edges(b)
    gf, af = _edges(f)
    den = float((ga + gb).sum())
    if den == 0:
        return math.nan
    qaf, qbf = _edge_preservation(ga, aa, gf, af), _edge_preservation(gb, ab, gf, af)
    return float((qaf * ga + qbf * gb).sum() / den)


def ssim(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM of Wang et al. 2004: Gaussian 11×11 window σ = 1.5, K1 = 0.01, K2 = 0.03,
    L = 255, population statistics, mean over the 'valid' region."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = cv2.getGaussianKernel(11, 1.5)
    win = g @ g.T
    mx, my = _filter_valid(x, win), _filter_valid(y, win)
    vx = _filter_valid(x * x, win) - mx * mx
    vy = _filter_valid(y * y, win) - my * my
    cxy = _filter_valid(x * y, win) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


def ssim_legacy(x: np.ndarray, y: np.ndarray) -> float:
    """Old scikit-image ``structural_similarity`` defaults on float images, used by some
    published tables: 7×7 uniform window, sample covariance (×49/48), data range 2 (the
    float dtype range assumed by old versions), mean over the interior (3-px crop)."""
    c1, c2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2
    win = np.full((7, 7), 1 / 49)
    norm = 49 / 48
    mx, my = _filter_valid(x, win), _filter_valid(y, win)
    vx = norm * (_filter_valid(x * x, win) - mx * mx)
    vy = norm * (_filter_valid(y * y, win) - my * my)
    cxy = norm * (_filter_valid(x * y, win) - mx * my)
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


def fusion_metrics(
    fused: np.ndarray, ir: np.ndarray, vis: np.ndarray, legacy_ssim: bool = False
) -> dict[str, float]:
    """All fusion metrics of one image: keys EN SD SF AG MI SCD VIF Qabf SSIM PSNR CC
    (plus SSIM_legacy when asked). Inputs are uint8: fused and vis BGR H×W×3 or grey,
    ir H×W; all three must have the same H×W."""
    for name, img in (("fused", fused), ("ir", ir), ("vis", vis)):
        if img.dtype != np.uint8:
            raise ValueError(
                f"{name} must be uint8 (0-255), got {img.dtype}; metrics assume 0-255"
            )
    f, a, b = to_grey(fused), to_grey(ir), to_grey(vis)
    if not f.shape == a.shape == b.shape:
        raise ValueError(f"sizes differ: fused {f.shape}, ir {a.shape}, vis {b.shape}")
    out = {
        "EN": entropy(f),
        "SD": sd(f),
        "SF": sf(f),
        "AG": ag(f),
        "MI": mutual_information(f, a) + mutual_information(f, b),
        "SCD": scd(f, a, b),
        "VIF": vif(a, f) + vif(b, f),
        "Qabf": qabf(f, a, b),
        "SSIM": ssim(f, a) + ssim(f, b),
        "PSNR": psnr(f, a, b),
        "CC": cc(f, a, b),
    }
    if legacy_ssim:
        out["SSIM_legacy"] = ssim_legacy(f, a) + ssim_legacy(f, b)
    return out
