"""dlib's 128-d face encoder (dlib_face_recognition_resnet_model_v1) run on numpy.

The network and its weights are dlib's own, read from the same ``.dat`` file dlib reads, so
encodings match dlib's ``compute_face_descriptor`` (to about 1e-6 per value) and templates
stored before keep matching. dlib's Python wheel is built without BLAS, where one face costs
about 80 ms of CPU; here the convolutions are matrix products on numpy's BLAS, several faces
at once, about 10 ms a face. dlib still cuts the 150 px aligned chip each face is encoded from.

The network (dlib's ``dnn_face_recognition_ex.cpp``): a 7x7 stride-2 convolution, max pooling,
14 residual blocks of two 3x3 convolutions (32, 64, 128, 256 filters; the first block of each
width but the first halves the size, its shortcut average-pooled and zero-padded, as dlib's
``add_prev`` does), a global average and a 128-wide linear layer without bias. Batch
normalisation is stored as a per-channel affine transform, folded here into the convolution
before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["CHIP_SIDE", "FaceNet", "ModelFormatError", "load_network", "parse_network"]

#: Side of the aligned face chip the network takes (dlib's ``input_rgb_image_sized<150>``).
CHIP_SIDE: Final = 150
#: Faces per forward pass: larger batches leave the processor's cache and run slower.
BATCH: Final = 4
#: Residual blocks per width, in order: (filters, blocks, first block halves the size).
_LEVELS: Final = ((32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True))

Float32 = npt.NDArray[np.float32]


class ModelFormatError(ValueError):
    """The file is not dlib's face-encoder network in a layout this reader knows."""


class _Stream:
    """Reader of dlib's serialisation: compact integers, strings, portable floats, tensors."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ModelFormatError("the model file ends early")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def integer(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            raise ModelFormatError(f"not an integer at byte {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def text(self) -> str:
        length = self.integer()
        if not 0 < length < 256:
            raise ModelFormatError(f"not a layer name at byte {self.pos}")
        return self._take(length).decode("latin-1")

    def real(self) -> float:
        mantissa, exponent = self.integer(), self.integer()
        return float(np.ldexp(float(mantissa), exponent))

    def flag(self) -> bool:
        value = self._take(1)
        if value not in (b"0", b"1"):
            raise ModelFormatError(f"not a flag at byte {self.pos - 1}")
        return value == b"1"

    def tensor(self) -> Float32:
        if self.integer() != 2:
            raise ModelFormatError("unknown tensor version")
        shape = [self.integer() for _ in range(4)]
        count = int(np.prod(shape))
        raw = np.frombuffer(self._take(4 * count), dtype="<f4")
        return raw.astype(np.float32).reshape(shape)

    def shape(self) -> tuple[int, ...]:
        if self.integer() != 1:
            raise ModelFormatError("unknown tensor shape version")
        return tuple(self.integer() for _ in range(4))

    def peek_string(self) -> str | None:
        start = self.pos
        try:
            return self.text()
        except (ModelFormatError, UnicodeDecodeError):
            return None
        finally:
            self.pos = start


@dataclass(frozen=True, slots=True)
class _Layer:
    """One layer as stored: its kind and, for the kinds with weights, those."""

    kind: str  # "con", "affine", "relu", "max_pool", "avg_pool", "add_prev", "fc"
    weights: Float32 | None = None
    bias: Float32 | None = None
    size: int = 0  # kernel or window side (0: the whole input)
    stride: int = 1
    padding: int = 0


def _read_con(s: _Stream) -> _Layer:
    params = s.tensor().ravel()
    filters = s.integer()
    rows, cols, stride_y, stride_x, pad_y, pad_x = (s.integer() for _ in range(6))
    shape, _ = s.shape(), s.shape()
    for _ in range(4):  # learning-rate and weight-decay multipliers
        s.real()
    if rows != cols or stride_y != stride_x or pad_y != pad_x or shape[0] != filters:
        raise ModelFormatError("unexpected convolution layout")
    n = int(np.prod(shape))
    weights = params[:n].reshape(shape)
    return _Layer("con", weights, params[n : n + filters], rows, stride_y, pad_y)


def _read_details(s: _Stream) -> _Layer:
    """One layer's own data (after its subnetwork), by the version string it starts with."""
    name = s.text()
    if name == "con_4":
        return _read_con(s)
    if name == "affine_":
        params = s.tensor().ravel()
        channels = s.shape()[1]
        s.shape()
        if s.integer() != 0:  # dlib's CONV_MODE: one scale and shift per channel
            raise ModelFormatError("affine layer not per channel")
        return _Layer("affine", params[:channels], params[channels : 2 * channels])
    if name in ("relu_", "add_prev_"):
        return _Layer(name.rstrip("_"))
    if name in ("max_pool_2", "avg_pool_2"):
        rows, cols, stride_y, stride_x, pad_y, pad_x = (s.integer() for _ in range(6))
        if rows != cols or stride_y != stride_x or pad_y or pad_x:
            raise ModelFormatError("unexpected pooling layout")
        return _Layer(name[:-2], size=rows, stride=stride_y)
    if name == "fc_2":
        outputs, inputs = s.integer(), s.integer()
        params = s.tensor().ravel()
        s.shape(), s.shape()
        if s.integer() != 1:  # dlib's FC_NO_BIAS
            raise ModelFormatError("linear layer with a bias")
        for _ in range(4):
            s.real()
        return _Layer("fc", params[: inputs * outputs].reshape(inputs, outputs))
    raise ModelFormatError(f"unexpected layer {name!r}")


def _skip_state(s: _Stream, version: int) -> None:
    """The training state dlib stores after each layer (flags and empty gradient tensors)."""
    for _ in range(3):
        s.flag()
    for _ in range(3 if version >= 2 else 2):
        s.tensor()


def _read_layers(data: bytes) -> tuple[Float32, list[_Layer], int]:
    """The input's channel means, every layer with data (input to output), and the tag count."""
    s = _Stream(data)
    if s.integer() != 1 or s.text() != "loss_metric_2":
        raise ModelFormatError("not dlib's metric-learning network")
    s.real(), s.real()
    # Nested layers are stored outermost first, each a version number before its subnetwork;
    # the innermost holds the input layer.
    versions: list[int] = []
    while s.peek_string() != "input_rgb_image_sized":
        versions.append(s.integer())
        if len(versions) > 1000:
            raise ModelFormatError("no input layer")
    s.text()
    mean = np.array([s.real(), s.real(), s.real()], dtype=np.float32)
    if (s.integer(), s.integer()) != (CHIP_SIDE, CHIP_SIDE):
        raise ModelFormatError("unexpected input size")
    layers = [_read_details(s)]
    _skip_state(s, 2)
    if versions[-1] >= 3:
        s.integer()  # sample expansion factor
    for version in reversed(versions[:-1]):
        if version == 1:  # a tag or skip layer: no data of its own
            continue
        layers.append(_read_details(s))
        _skip_state(s, version)
    if s.pos != len(data):
        raise ModelFormatError("unexpected data after the network")
    return mean, layers, versions.count(1)


@dataclass(frozen=True, slots=True)
class _Conv:
    """A convolution with its affine transform folded in: weights (size*size*in, out)."""

    weights: Float32  # rows ordered by kernel row, kernel column, input channel
    bias: Float32
    size: int
    stride: int
    padding: int


@dataclass(frozen=True, slots=True)
class _Block:
    """A residual block: two convolutions; the shortcut average-pooled by ``pool`` (0: none)."""

    first: _Conv
    second: _Conv
    pool: int


class _Layers:
    """The stored layers, taken one by one in the order the network needs them."""

    def __init__(self, layers: list[_Layer]) -> None:
        self._layers = layers
        self._next = 0

    def take(self, kind: str) -> _Layer:
        if self._next >= len(self._layers) or self._layers[self._next].kind != kind:
            raise ModelFormatError(f"layer {self._next} is not a {kind} layer")
        self._next += 1
        return self._layers[self._next - 1]

    def conv(self) -> _Conv:
        """A convolution and the affine transform after it, as one convolution."""
        con, affine = self.take("con"), self.take("affine")
        assert con.weights is not None and con.bias is not None
        assert affine.weights is not None and affine.bias is not None
        gamma, beta = affine.weights, affine.bias
        if gamma.shape[0] != con.weights.shape[0]:
            raise ModelFormatError("affine transform and convolution differ in width")
        scaled = con.weights * gamma[:, None, None, None]
        matrix = scaled.transpose(2, 3, 1, 0).reshape(-1, con.weights.shape[0])
        return _Conv(
            np.ascontiguousarray(matrix, dtype=np.float32),
            (con.bias * gamma + beta).astype(np.float32),
            con.size,
            con.stride,
            con.padding,
        )

    def done(self) -> None:
        if self._next != len(self._layers):
            raise ModelFormatError("more layers than dlib's face encoder has")


def _blocks(layers: _Layers) -> list[_Block]:
    """The residual blocks, checked against the widths and strides of dlib's network."""
    blocks: list[_Block] = []
    width = 32
    for filters, count, halves in _LEVELS:
        for n in range(count):
            down = halves and n == 0
            first = layers.conv()
            layers.take("relu")
            second = layers.conv()
            pool = layers.take("avg_pool") if down else None
            layers.take("add_prev")
            layers.take("relu")
            shapes = (first.weights.shape, second.weights.shape, first.stride, second.stride)
            if shapes != ((9 * width, filters), (9 * filters, filters), 2 if down else 1, 1):
                raise ModelFormatError(f"residual block {len(blocks)} differs from dlib's")
            if pool is not None and (pool.size, pool.stride) != (2, 2):
                raise ModelFormatError("unexpected shortcut pooling")
            blocks.append(_Block(first, second, 2 if down else 0))
            width = filters
    return blocks


def _stem_conv(conv: _Conv, mean: Float32) -> _Conv:
    """The first convolution taking 8-bit pixels: dlib's (pixel - mean) / 256 folded in."""
    if conv.padding:
        raise ModelFormatError("the first convolution is padded")
    weights = (conv.weights / np.float32(256.0)).astype(np.float32)
    taps = np.tile(mean, conv.size * conv.size)
    bias = (conv.bias - taps @ weights).astype(np.float32)
    return _Conv(weights, bias, conv.size, conv.stride, 0)


def _conv(x: Float32, conv: _Conv) -> Float32:
    """Convolution of an (n, h, w, c) batch as one matrix product over its patches."""
    n, h, w, c = x.shape
    k, s, p = conv.size, conv.stride, conv.padding
    if p:  # dlib pads with zeros
        padded = np.zeros((n, h + 2 * p, w + 2 * p, c), dtype=np.float32)
        padded[:, p : p + h, p : p + w] = x
        x, h, w = padded, h + 2 * p, w + 2 * p
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    sn, sh, sw, sc = x.strides
    patches = np.lib.stride_tricks.as_strided(
        x, (n, oh, ow, k, k, c), (sn, sh * s, sw * s, sh, sw, sc), writeable=False
    )
    out = np.ascontiguousarray(patches).reshape(-1, k * k * c) @ conv.weights
    out += conv.bias
    return out.reshape(n, oh, ow, -1)


def _pool(x: Float32, size: int, stride: int, kind: str) -> Float32:
    """Max or average pooling of an (n, h, w, c) batch, unpadded (as the network's pools are)."""
    _, h, w, _ = x.shape
    oh, ow = (h - size) // stride + 1, (w - size) // stride + 1
    out: Float32 | None = None
    for i in range(size):
        for j in range(size):
            rows = slice(i, i + stride * (oh - 1) + 1, stride)
            part = x[:, rows, j : j + stride * (ow - 1) + 1 : stride]
            if out is None:
                out = part.copy()
            elif kind == "max":
                np.maximum(out, part, out=out)
            else:
                out += part
    assert out is not None
    if kind == "avg":
        out *= np.float32(1.0 / (size * size))
    return out


def _add(a: Float32, b: Float32) -> Float32:
    """dlib's add_prev: the sum, sized to the larger of each dimension, missing values zero."""
    if a.shape == b.shape:
        a += b
        return a
    shape = tuple(max(p, q) for p, q in zip(a.shape, b.shape, strict=True))
    out = np.zeros(shape, dtype=np.float32)
    out[:, : a.shape[1], : a.shape[2], : a.shape[3]] += a
    out[:, : b.shape[1], : b.shape[2], : b.shape[3]] += b
    return out


class FaceNet:
    """dlib's face encoder with weights read from its ``.dat`` file; thread-safe (read-only)."""

    def __init__(self, mean: Float32, layers: list[_Layer], tags: int) -> None:
        stored = _Layers(layers)
        self._stem = _stem_conv(stored.conv(), mean)
        stored.take("relu")
        pool = stored.take("max_pool")
        self._pool = (pool.size, pool.stride)
        self._blocks = _blocks(stored)
        if stored.take("avg_pool").size != 0:  # dlib's avg_pool_everything
            raise ModelFormatError("the network does not end with a global average")
        fc = stored.take("fc").weights
        stored.done()
        assert fc is not None
        if fc.shape != (self._blocks[-1].second.weights.shape[1], 128):
            raise ModelFormatError("the encoding is not 128 values")
        # Every block has a tag for its shortcut; a block that halves the size also a tag and a
        # skip to reach back to it.
        if tags != sum(3 if b.pool else 1 for b in self._blocks):
            raise ModelFormatError("the shortcuts differ from dlib's network")
        self._fc = np.ascontiguousarray(fc, dtype=np.float32)

    def encode(self, chips: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
        """128-d encodings (n x 128, float64) of aligned (n, 150, 150, 3) RGB face chips."""
        if chips.dtype != np.uint8 or chips.ndim != 4 or chips.shape[1:] != (150, 150, 3):
            raise ValueError(
                f"expected uint8 (n, 150, 150, 3) chips, got {chips.dtype} {chips.shape}"
            )
        out = np.empty((chips.shape[0], 128), dtype=np.float64)
        for start in range(0, chips.shape[0], BATCH):
            out[start : start + BATCH] = self._forward(chips[start : start + BATCH])
        return out

    def _forward(self, chips: npt.NDArray[np.uint8]) -> Float32:
        x = self._first(chips)
        np.maximum(x, 0, out=x)
        x = _pool(x, *self._pool, "max")
        for block in self._blocks:
            y = _conv(x, block.first)
            np.maximum(y, 0, out=y)
            y = _conv(y, block.second)
            x = _add(y, _pool(x, block.pool, block.pool, "avg") if block.pool else x)
            np.maximum(x, 0, out=x)
        features: Float32 = x.mean(axis=(1, 2), dtype=np.float32)
        encodings: Float32 = features @ self._fc
        return encodings

    def _first(self, chips: npt.NDArray[np.uint8]) -> Float32:
        """The first convolution, its patches gathered as bytes (cheaper than as floats)."""
        conv = self._stem
        k, s = conv.size, conv.stride
        view = np.lib.stride_tricks.sliding_window_view(chips, (k, k), axis=(1, 2))[:, ::s, ::s]
        n, oh, ow = view.shape[:3]
        patches = np.ascontiguousarray(view.transpose(0, 1, 2, 4, 5, 3)).reshape(-1, k * k * 3)
        out = patches.astype(np.float32) @ conv.weights
        out += conv.bias
        return out.reshape(n, oh, ow, -1)


def parse_network(data: bytes) -> FaceNet:
    """The face encoder in the bytes of dlib_face_recognition_resnet_model_v1.dat."""
    mean, layers, tags = _read_layers(data)
    return FaceNet(mean, layers, tags)


def load_network(path: Path) -> FaceNet:
    """Read the face encoder from its file (about 20 ms); raises OSError or ModelFormatError."""
    return parse_network(path.read_bytes())
