"""Video in and out (OpenCV), temporal consistency by optical flow, and the warping error.

OpenCV's Python wheel (``opencv-python-headless``, the ``video`` extra) decodes and encodes through the
FFmpeg it bundles, so every common container and codec works without system libraries, and it carries
the optical flow used here (DIS, Kroeger et al. 2016: fast and dense) in the same package.

Temporal consistency: a style network restyles each frame on its own, so texture that should stay put
flickers. The previous *output* is warped to the current frame along the optical flow of the *input*
frames and blended in where that flow is reliable: the forward and backward flows agree (Sundaram et al.
2010) and the warped previous input matches the current one. Static and smoothly moving regions then
keep their strokes; occluded and newly visible regions take the new frame's output.

Warping error (Lai et al. 2018): the mean squared difference between each output frame and the
previous output warped to it, over the pixels whose flow is reliable. The flow for the measurement is
Farnebäck's (a different algorithm from the one the consistency option uses), computed on the input.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..imageio import load_image, save_image
from .data import IMAGE_SUFFIXES

FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class VideoError(ValueError):
    """A user-facing problem with a video file or frame folder."""


def cv2_module():
    try:
        import cv2
    except ImportError:
        raise VideoError("video needs OpenCV: pip install 'painterly[video]' (opencv-python-headless)") from None
    cv2.setNumThreads(0 if cv2.getNumThreads() < 1 else cv2.getNumThreads())
    return cv2


def video_info(path) -> tuple[float, int, tuple[int, int]]:
    """(frames per second, frame count or 0 when unknown, (width, height)); a clear error when unreadable."""
    cv2 = cv2_module()
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"video not found: {path}")
    cap = cv2.VideoCapture(str(path))
    try:
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if not ok or frame is None:
            raise VideoError(f"cannot read video {path}: no frame could be decoded (not a video, or an "
                             f"unsupported codec)")
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        return (fps if 0 < fps < 1000 else 25.0), max(0, count), (frame.shape[1], frame.shape[0])
    finally:
        cap.release()


def read_frames(path, limit: int | None = None):
    """RGB float32 frames of a video file, or of the images in a folder (sorted by name)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise VideoError(f"no frames in {path} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        for p in files[:limit]:
            yield load_image(p).rgb
        return
    video_info(path)  # a clear error before the first frame
    cv2 = cv2_module()
    cap = cv2.VideoCapture(str(path))
    try:
        n = 0
        while limit is None or n < limit:
            ok, frame = cap.read()
            if not ok:
                break
            n += 1
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    finally:
        cap.release()


class FrameWriter:
    """Frames to a video file (codec from the suffix) or to numbered PNGs in a folder (no suffix)."""

    def __init__(self, path, fps: float):
        self.path, self.fps = Path(path), fps
        self.writer, self.count = None, 0
        if self.path.suffix and self.path.suffix.lower() not in FOURCC:
            raise VideoError(f"cannot write video {self.path}: use one of {', '.join(FOURCC)}, or a folder name "
                             f"for PNG frames")

    def write(self, rgb: np.ndarray) -> None:
        self.count += 1
        if not self.path.suffix:
            save_image(self.path / f"frame_{self.count:06d}.png", rgb)
            return
        cv2 = cv2_module()
        frame = cv2.cvtColor(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter_fourcc(*FOURCC[self.path.suffix.lower()])
            self.writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (frame.shape[1], frame.shape[0]))
            if not self.writer.isOpened():
                raise VideoError(f"cannot write video {self.path}: OpenCV has no encoder for it")
        self.writer.write(frame)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


def grey_u8(rgb: np.ndarray) -> np.ndarray:
    cv2 = cv2_module()
    return cv2.cvtColor(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` sampled at x + flow(x) (bilinear, borders replicated)."""
    cv2 = cv2_module()
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def reliable_flow(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Forward–backward check: following the backward flow, then the forward flow from where it lands,
    returns (nearly) to the start; also excludes pixels whose flow leaves the frame."""
    h, w = backward.shape[:2]
    forward_there = warp(forward, backward)
    error = ((backward + forward_there) ** 2).sum(-1)
    bound = 0.01 * ((backward ** 2).sum(-1) + (forward_there ** 2).sum(-1)) + 0.5
    gx, gy = np.meshgrid(np.arange(w), np.arange(h))
    inside = ((gx + backward[..., 0] >= 0) & (gx + backward[..., 0] <= w - 1) &
              (gy + backward[..., 1] >= 0) & (gy + backward[..., 1] <= h - 1))
    return (error < bound) & inside


class FlowEstimator:
    """Dense optical flow between grey frames: DIS (default) or Farnebäck."""

    def __init__(self, kind: str = "dis"):
        cv2 = cv2_module()
        self.kind = kind
        if kind == "dis":
            self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Flow from grey frame ``a`` to ``b``: a(x) ≈ b(x + flow(x))."""
        cv2 = cv2_module()
        if self.kind == "dis":
            return self.dis.calc(a, b, None)
        return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 21, 5, 7, 1.5, 0)

    def pair(self, previous: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(flow from current to previous, mask of pixels where it is reliable)."""
        backward = self(current, previous)
        forward = self(previous, current)
        return backward, reliable_flow(backward, forward)


class TemporalBlender:
    """Blends the previous output, warped along the input's flow, into each new output where reliable.

    ``weight`` (0..1): the share of the warped previous output in reliable pixels; 0 turns it off.
    """

    COLOUR_TOLERANCE = 0.06  # mean absolute RGB difference between the warped previous and current input

    def __init__(self, weight: float = 0.8):
        self.weight = float(weight)
        self.flow = FlowEstimator("dis") if self.weight > 0 else None
        self.prev_input = self.prev_grey = self.prev_output = None

    def __call__(self, frame: np.ndarray, output: np.ndarray) -> np.ndarray:
        if self.flow is None:
            return output
        grey = grey_u8(frame)
        if self.prev_output is not None and self.prev_output.shape == output.shape:
            backward, reliable = self.flow.pair(self.prev_grey, grey)
            match = np.abs(warp(self.prev_input, backward) - frame).mean(-1) < self.COLOUR_TOLERANCE
            cv2 = cv2_module()
            keep = cv2.blur((reliable & match).astype(np.float32), (5, 5)) * self.weight
            output = (keep[..., None] * warp(self.prev_output, backward) + (1 - keep[..., None]) * output)
        self.prev_input, self.prev_grey, self.prev_output = frame, grey, output.astype(np.float32)
        return self.prev_output


def warping_error(inputs: list[np.ndarray], outputs: list[np.ndarray], flow_kind: str = "farneback") -> float:
    """Mean over consecutive pairs of the reliable-pixel mean squared difference between output t and
    output t−1 warped by the input frames' flow (values in [0, 1] units)."""
    flow = FlowEstimator(flow_kind)
    errors = []
    for t in range(1, len(inputs)):
        backward, reliable = flow.pair(grey_u8(inputs[t - 1]), grey_u8(inputs[t]))
        if not reliable.any():
            continue
        diff = ((outputs[t] - warp(outputs[t - 1], backward)) ** 2).mean(-1)
        errors.append(float(diff[reliable].mean()))
    return float(np.mean(errors)) if errors else 0.0


def stylize_frames(frames, stylize, writer: FrameWriter, consistency: float = 0.8, total: int = 0,
                   progress=None, cancel=None) -> int:
    """Stylise ``frames`` one by one with ``stylize(frame) -> output``, blend each output with the warped
    previous one (``consistency``; 0 = off) and write it; returns the number of frames written."""
    import time

    from ..optimize import Progress
    blender = TemporalBlender(consistency)
    start, n = time.monotonic(), 0
    try:
        for frame in frames:
            if cancel is not None:
                cancel.check()
            writer.write(blender(frame, stylize(frame)))
            n += 1
            if progress is not None:
                progress(Progress(n, max(total, n), "frames", {}, None, time.monotonic() - start))
    finally:
        writer.close()
    if n == 0:
        raise VideoError("no frames to stylise")
    return n
