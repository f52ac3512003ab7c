"""Whisper's audio encoder on PyTorch in bfloat16, for CPUs whose matrix units make it the
faster of the two; built from the CTranslate2 model's own weights, so nothing else ships.

Why: on CPU, CTranslate2's int8 encoder spends half its time in float32 attention (its
batched ``QK^T`` over 1500 frames runs at ~40 GFLOP/s), while PyTorch's bfloat16 path uses
the CPU's matrix units (Intel AMX: oneDNN for the linear layers, a flash-attention kernel
for attention). One 30 s window, one core of an Intel Xeon with AMX (2026-12-03):
CTranslate2 int8 0.92-1.0 s, PyTorch bfloat16 0.48 s; both cores 0.20 s. Which encoder
runs follows the CPU (:func:`bfloat16_units`), as CTranslate2 and oneDNN pick their own
kernels: with AMX, PyTorch's; with bfloat16 vector instructions only (AMD Zen 4), for each
encoder input length (10, 20, 30 s) whichever of the two encodes it faster when the engine
loads (:func:`faster_encoders`: on Zen 4 CTranslate2's for 10 and 20 s, PyTorch's for 30 s);
without either, where bfloat16 is emulated and slow, CTranslate2's.

The decoder, the language detection and the word alignment stay on CTranslate2: they take
this encoder's output (``[batch, frames, d_model]``, float32) exactly as they take their
own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from twi_endpoint.settings import ENV_CACHE_HOME

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

# CTranslate2's ``model.bin`` data types (ctranslate2/types.h: FLOAT32, INT8, INT16, INT32,
# FLOAT16, BFLOAT16). Only floating-point weights can be read back into an encoder: an int8
# model directory (quantised when converted) keeps CTranslate2's own encoder.
_FLOAT_TYPES = {0: np.float32, 4: np.float16}
_INT16 = 2
SLOW_WARM_UP = 3.0  # see faster_encoders
_MIN_BINARY_VERSION = 5  # every variable carries its data type from version 4 on; 6 is today's


def read_encoder_weights(model_bin: Path) -> dict[str, np.ndarray] | None:
    """The ``encoder/...`` variables of a CTranslate2 Whisper ``model.bin`` as arrays, or
    ``None`` when they are not plain floating point (a quantised model) or the file is of a
    layout this reader does not know; the caller then keeps CTranslate2's encoder."""
    with model_bin.open("rb") as f:
        version = _unpack(f, "I")
        if version < _MIN_BINARY_VERSION:
            return None
        _string(f)  # spec name
        _unpack(f, "I")  # spec revision
        weights: dict[str, np.ndarray] = {}
        for _ in range(_unpack(f, "I")):
            name = _string(f)
            dims = [_unpack(f, "I") for _ in range(_unpack(f, "B"))]
            dtype, size = _unpack(f, "B"), _unpack(f, "I")
            if not name.startswith("encoder/"):
                f.seek(size, 1)
                continue
            if name == "encoder/num_heads" and dtype == _INT16:
                weights[name] = np.frombuffer(f.read(size), dtype=np.int16).reshape(dims)
            elif dtype in _FLOAT_TYPES:
                weights[name] = np.frombuffer(f.read(size), dtype=_FLOAT_TYPES[dtype]).reshape(dims)
            else:
                return None
    return weights


def _unpack(f: BinaryIO, fmt: str) -> int:
    (value,) = struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))
    return int(value)


def _string(f: BinaryIO) -> str:
    return f.read(_unpack(f, "H"))[:-1].decode()  # length-prefixed, NUL-terminated


class TorchEncoder:
    """Whisper's encoder (two convolutions, pre-norm transformer layers) as plain PyTorch
    functions over the weights of :func:`read_encoder_weights`, in bfloat16.

    CTranslate2 fuses each layer's query, key and value projections into one matrix
    (``self_attention/linear_0``; the key's bias is zero, as Whisper has none); the
    attention's scaling is the usual ``1/sqrt(head size)``, which is Whisper's
    ``head size ** -0.25`` on both query and key. Not transformers' ``WhisperEncoder``:
    it refuses any input but 30 s (3000 frames), and the engine encodes 10, 20 or 30 s.
    """

    def __init__(self, weights: dict[str, np.ndarray], threads: int) -> None:
        import torch  # only when this encoder is used: the GPU image never imports it here

        self._torch = torch
        torch.set_num_threads(threads)  # one encoder call spreads over every core
        self.heads = int(weights["encoder/num_heads"])
        self._w = {
            name: torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)).to(torch.bfloat16)
            for name, value in weights.items()
            if name != "encoder/num_heads"
        }
        self.layers = sum(1 for name in self._w if name.endswith("/self_attention/linear_0/weight"))

    def __call__(self, mels: np.ndarray) -> np.ndarray:
        """Encoder output (float32, ``[batch, frames / 2, d_model]``) of log-mel features
        ``[batch, n_mels, frames]`` (10, 20 or 30 s; positions cut to their length, as
        CTranslate2 does)."""
        torch, functional, w = self._torch, self._torch.nn.functional, self._w
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(mels, dtype=np.float32)).to(torch.bfloat16)
            x = functional.gelu(
                functional.conv1d(x, w["encoder/conv1/weight"], w["encoder/conv1/bias"], padding=1)
            )
            x = functional.gelu(
                functional.conv1d(x, w["encoder/conv2/weight"], w["encoder/conv2/bias"], stride=2, padding=1)
            )
            x = x.transpose(1, 2) + w["encoder/position_encodings/encodings"][: x.shape[2]]
            for i in range(self.layers):
                x = x + self._attention(x, f"encoder/layer_{i}/self_attention/")
                x = x + self._feed_forward(x, f"encoder/layer_{i}/ffn/")
            x = self._norm(x, "encoder/layer_norm/")
            return x.float().numpy()

    def _norm(self, x: torch.Tensor, prefix: str) -> torch.Tensor:
        w = self._w
        return self._torch.nn.functional.layer_norm(
            x, x.shape[-1:], w[prefix + "gamma"], w[prefix + "beta"], eps=1e-5
        )

    def _attention(self, x: torch.Tensor, prefix: str) -> torch.Tensor:
        functional, w = self._torch.nn.functional, self._w
        batch, frames, width = x.shape
        qkv = functional.linear(
            self._norm(x, prefix + "layer_norm/"), w[prefix + "linear_0/weight"], w[prefix + "linear_0/bias"]
        )
        q, k, v = (
            part.reshape(batch, frames, self.heads, width // self.heads).transpose(1, 2)
            for part in qkv.split(width, dim=-1)
        )
        out = functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, frames, width)
        return functional.linear(out, w[prefix + "linear_1/weight"], w[prefix + "linear_1/bias"])

    def _feed_forward(self, x: torch.Tensor, prefix: str) -> torch.Tensor:
        functional, w = self._torch.nn.functional, self._w
        hidden = functional.gelu(
            functional.linear(
                self._norm(x, prefix + "layer_norm/"),
                w[prefix + "linear_0/weight"],
                w[prefix + "linear_0/bias"],
            )
        )
        return functional.linear(hidden, w[prefix + "linear_1/weight"], w[prefix + "linear_1/bias"])


def _timed(encode: Callable[[list[np.ndarray]], object], windows: list[np.ndarray]) -> float:
    start = time.perf_counter()
    encode(windows)
    return time.perf_counter() - start


def bfloat16_units() -> str | None:
    """How this CPU computes bfloat16, by PyTorch's own probes: ``"amx"`` (matrix units:
    the PyTorch encoder measured 2.2x as fast as CTranslate2's on 30 s windows, 1.5x on
    20 s, 1.1x on 10 s, 2 cores of a Sapphire Rapids Xeon), ``"avx512_bf16"`` (vector
    instructions only, e.g. AMD Zen 4, where neither is faster at every input length, so
    :func:`faster_encoders` times both when the engine loads), or ``None``: PyTorch
    emulates bfloat16 there, several times slower than CTranslate2's int8, and it is not
    tried. A PyTorch without the probes counts as ``"avx512_bf16"``: the timing decides."""
    import torch

    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    vector = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    if amx is None or vector is None:
        return "avx512_bf16"
    if amx():
        return "amx"
    return "avx512_bf16" if vector() else None


def faster_encoders(
    candidates: dict[str, Callable[[list[np.ndarray]], object]],
    n_mels: int,
    lengths: tuple[int, ...] = (1000, 2000, 3000),
) -> dict[int, str]:
    """For each encoder input length (frames: the engine encodes 10, 20 or 30 s), the name
    of the candidate encoder (each a function of a list of log-mel windows) that encoded two
    windows of noise of that length fastest on this machine: the better of two runs each,
    the first of which also prepares the candidate's kernels for that shape. Two windows,
    so that an encoder that works on several windows side by side (CTranslate2's replicas)
    is timed as it runs.

    Per length, because the two encoders' costs grow differently: attention grows with the
    square of the length, and PyTorch's flash-attention kernel makes it cheaper there,
    while CTranslate2's int8 matrix products win on short inputs. 2 cores of an AMD EPYC
    (Zen 4: AVX512-BF16, no AMX), two windows: CTranslate2 0.16-0.17 s at 10 s against
    PyTorch 0.20-0.23 s, 20 s 0.40-0.44 against 0.48-0.52 s, 30 s 0.90-1.11 against
    0.84-1.02 s. A single length timed (20 s, as before) kept CTranslate2 for the full 30 s
    windows that make most of a long recording. It costs 4-7 s of load on those 2 cores,
    once a machine (:func:`remembered_choice`). A candidate whose first run alone takes over
    ``SLOW_WARM_UP`` times the best so far is not run again at that length (emulated
    bfloat16)."""
    rng = np.random.default_rng(0)
    choice: dict[int, str] = {}
    for frames in lengths:
        mel = rng.standard_normal((n_mels, frames)).astype(np.float32) * 0.5
        windows = [mel, mel]
        best: dict[str, float] = {}
        for name, encode in candidates.items():
            first = _timed(encode, windows)
            if best and first > SLOW_WARM_UP * min(best.values()):
                best[name] = first  # clearly slower already: not run again
                continue
            best[name] = min(first, _timed(encode, windows))
        choice[frames] = min(best, key=lambda name: best[name])
        log.info(
            "encoder for %.0f s inputs on this CPU: %s (two windows: %s)",
            frames / 100,
            choice[frames],
            ", ".join(f"{name} {seconds:.3f} s" for name, seconds in best.items()),
        )
    return choice


CHOICE_FILE = "encoder-choice.json"
_CHOICE_FORMAT = 1  # part of every key: a change to how the choice is timed starts afresh


def choice_file() -> Path:
    """Where timed encoder choices are remembered: ``$XDG_CACHE_HOME/twi-asr``, else
    ``~/.cache/twi-asr``."""
    home = os.environ.get(ENV_CACHE_HOME) or str(Path.home() / ".cache")
    return Path(home) / "twi-asr" / CHOICE_FILE


def cpu_identity() -> tuple[str, str]:
    """This CPU's model name (from ``/proc/cpuinfo``, else what :mod:`platform` knows) and its
    feature flags (``""`` where ``/proc/cpuinfo`` cannot say): the first core's."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            field, _, value = line.partition(":")
            fields.setdefault(field.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    return name, fields.get("flags") or fields.get("Features") or ""


def machine_key(model_bin: Path, threads: int) -> str:
    """What a timing of the encoders depends on: this CPU (its model name and a digest of its
    feature flags), the threads, the libraries' versions and the model file."""
    import ctranslate2
    import torch

    name, flags = cpu_identity()
    digest = hashlib.sha256(flags.encode()).hexdigest()[:12] if flags else "?"
    stat = model_bin.stat()
    return " | ".join(
        [
            f"format {_CHOICE_FORMAT}",
            f"{name} (flags {digest})",
            f"{threads} threads",
            f"ctranslate2 {ctranslate2.__version__}",
            f"torch {torch.__version__}",
            f"{model_bin.resolve()} ({stat.st_size} bytes, {stat.st_mtime_ns})",
        ]
    )


def remembered_choice(
    key: str, measure: Callable[[], dict[int, str]], path: Path | None = None
) -> dict[int, str]:
    """The encoder choice remembered under ``key`` (:func:`machine_key`) in ``path``
    (:func:`choice_file`), else ``measure()``, then remembered there.

    Why: every process that loads the engine on a CPU where the encoders are timed times
    them again, ~4 s on 2 cores of an AMD EPYC (10.5 against 6.6 s of load): the local
    stack's worker processes, each model-server worker of an endpoint, each test worker.
    One machine's answer does not change between its processes, as cuDNN's and oneDNN's
    tuned kernels are kept between runs. A file that cannot be read is timed over; one
    that cannot be written leaves the choice to this process (logged)."""
    path = path or choice_file()
    known = _read_choices(path)
    if key in known:
        log.info("encoder choice for this machine, timed before: %s (%s)", known[key], path)
        return known[key]
    choice = measure()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        everything = {**_read_choices(path), key: choice}  # another process may have written
        scratch = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        scratch.write_text(json.dumps(everything, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(scratch, path)  # whole or not at all, for readers in other processes
    except OSError as exc:
        log.info("the encoder choice is not remembered (%s): %s", path, exc)
    return choice


def _read_choices(path: Path) -> dict[str, dict[int, str]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {
            str(key): {int(frames): str(name) for frames, name in choice.items()}
            for key, choice in raw.items()
        }
    except (OSError, ValueError, AttributeError, TypeError):
        return {}
