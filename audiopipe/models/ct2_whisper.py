"""Convert the CTranslate2 Whisper model (``models/whisper-base-ct2/model.bin``) into an
openai-whisper checkpoint (``{"dims": ..., "model_state_dict": ...}``), offline.

The CTranslate2 binary format (written by ``ctranslate2.specs.model_spec``, binary version 6):
uint32 version; string spec name; uint32 spec revision; uint32 variable count; per variable:
string name, uint8 rank, rank x uint32 dims, uint8 dtype id (float32, int8, int16, int32,
float16, bfloat16), uint32 byte count, raw little-endian bytes; then uint32 alias count and
(alias, target) string pairs. A string is uint16 length (with the NUL) + bytes + NUL.

int8 variables come with a ``<name>_scale`` variable (per output row); they are dequantised
to float32. Fused projections are split back: the encoder's and the decoder's self-attention
``linear_0`` holds q, k, v stacked on the output axis; the decoder's cross-attention
``linear_1`` holds k, v. openai-whisper's key projections have no bias (CTranslate2 stores a
zero bias for them, checked here). Every CTranslate2 variable must be used exactly once and
every openai-whisper tensor must be filled with its exact shape; otherwise conversion fails.
"""

from __future__ import annotations

import json
import re
import struct
import sys
from pathlib import Path

import numpy as np

DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16, None)  # None: bfloat16
ATTN = ("query", "key", "value")


def read_ct2(path: Path) -> tuple[str, dict[str, np.ndarray]]:
    """All variables of a CTranslate2 model.bin, aliases resolved."""
    data = Path(path).read_bytes()
    pos = 0

    def take(fmt: str):
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return vals if len(vals) > 1 else vals[0]

    def string() -> str:
        nonlocal pos
        n = take("H")
        s = data[pos:pos + n - 1].decode("utf-8")
        pos += n
        return s

    version = take("I")
    if version < 5:
        raise ValueError(f"CTranslate2 binary version {version} is not supported (expected 5 or 6)")
    spec = string()
    take("I")  # spec revision
    variables: dict[str, np.ndarray] = {}
    for _ in range(take("I")):
        name = string()
        rank = take("B")
        shape = [take("I") for _ in range(rank)]
        dtype_id = take("B")
        nbytes = take("I")
        raw = data[pos:pos + nbytes]
        pos += nbytes
        if DTYPES[dtype_id] is None:  # bfloat16 -> float32
            arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, DTYPES[dtype_id])
        variables[name] = arr.reshape(shape) if shape else arr.reshape(())
    for _ in range(take("I")):
        alias, target = string(), string()
        variables[alias] = variables[target]
    if pos != len(data):
        raise ValueError(f"{len(data) - pos} trailing bytes in {path}")
    return spec, variables


class _Vars:
    """Hands out CTranslate2 variables (dequantised) and remembers which were used."""

    def __init__(self, variables: dict[str, np.ndarray]):
        self.v = variables
        self.used: set[str] = set()

    def __call__(self, name: str) -> np.ndarray:
        arr = self.v[name]
        self.used.add(name)
        if arr.dtype == np.int8:
            scale = self.v[name + "_scale"]
            self.used.add(name + "_scale")
            return arr.astype(np.float32) / scale.astype(np.float32).reshape(-1, *([1] * (arr.ndim - 1)))
        return arr.astype(np.float32)

    def unused(self) -> list[str]:
        return sorted(set(self.v) - self.used)


def _linear(g: _Vars, src: str, dst: str, out: dict, bias: bool = True) -> None:
    out[f"{dst}.weight"] = g(f"{src}/weight")
    if bias:
        out[f"{dst}.bias"] = g(f"{src}/bias")


def _norm(g: _Vars, src: str, dst: str, out: dict) -> None:
    out[f"{dst}.weight"] = g(f"{src}/gamma")
    out[f"{dst}.bias"] = g(f"{src}/beta")


def _split(g: _Vars, src: str, dst: str, names: tuple[str, ...], out: dict) -> None:
    """A fused projection (stacked on the output axis) back into its parts."""
    w = np.split(g(f"{src}/weight"), len(names))
    b = np.split(g(f"{src}/bias"), len(names))
    for n, wi, bi in zip(names, w, b):
        out[f"{dst}.{n}.weight"] = wi
        if n == "key":
            if np.abs(bi).max() > 0:
                raise ValueError(f"{src}: non-zero key bias; openai-whisper keys have none")
        else:
            out[f"{dst}.{n}.bias"] = bi


def _self_attention(g: _Vars, src: str, dst: str, out: dict) -> None:
    _norm(g, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln", out)
    _split(g, f"{src}/self_attention/linear_0", f"{dst}.attn", ATTN, out)
    _linear(g, f"{src}/self_attention/linear_1", f"{dst}.attn.out", out)


def _mlp(g: _Vars, src: str, dst: str, out: dict) -> None:
    _norm(g, f"{src}/layer_norm", f"{dst}.mlp_ln", out)
    _linear(g, f"{src}/linear_0", f"{dst}.mlp.0", out)
    _linear(g, f"{src}/linear_1", f"{dst}.mlp.2", out)


def _count_layers(variables: dict, stack: str) -> int:
    return len({m.group(1) for k in variables if (m := re.match(rf"{stack}/layer_(\d+)/", k))})


def convert(model_dir: Path) -> dict:
    """The openai-whisper checkpoint dict for a CTranslate2 Whisper model folder."""
    spec, variables = read_ct2(model_dir / "model.bin")
    if spec != "WhisperSpec":
        raise ValueError(f"{model_dir} holds a {spec}, not a WhisperSpec")
    g = _Vars(variables)
    sd: dict[str, np.ndarray] = {}
    n_enc = _count_layers(variables, "encoder")
    n_dec = _count_layers(variables, "decoder")
    for i in (1, 2):
        _linear(g, f"encoder/conv{i}", f"encoder.conv{i}", sd)
    sd["encoder.positional_embedding"] = g("encoder/position_encodings/encodings")
    for i in range(n_enc):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        _self_attention(g, src, dst, sd)
        _mlp(g, f"{src}/ffn", dst, sd)
    _norm(g, "encoder/layer_norm", "encoder.ln_post", sd)
    sd["decoder.token_embedding.weight"] = g("decoder/embeddings/weight")
    sd["decoder.positional_embedding"] = g("decoder/position_encodings/encodings")
    for i in range(n_dec):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        _self_attention(g, src, dst, sd)
        _norm(g, f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln", sd)
        _linear(g, f"{src}/attention/linear_0", f"{dst}.cross_attn.query", sd)
        _split(g, f"{src}/attention/linear_1", f"{dst}.cross_attn", ("key", "value"), sd)
        _linear(g, f"{src}/attention/linear_2", f"{dst}.cross_attn.out", sd)
        _mlp(g, f"{src}/ffn", dst, sd)
    _norm(g, "decoder/layer_norm", "decoder.ln", sd)
    # the output projection is tied to the token embedding in openai-whisper
    tied = "decoder/projection/weight"
    if tied in variables:
        if not np.array_equal(g(tied), sd["decoder.token_embedding.weight"]):
            raise ValueError("decoder projection differs from the token embedding; openai-whisper ties them")
    # scalars CTranslate2 keeps for itself (head counts, flags) carry no weights
    leftover = [k for k in g.unused() if variables[k].ndim > 0 and variables[k].size > 1]
    if leftover:
        raise ValueError(f"CTranslate2 variables not mapped: {leftover}")
    # conv weights: CTranslate2 stores (out, in, kernel) like PyTorch
    n_heads = int(variables["encoder/num_heads"]) if "encoder/num_heads" in variables else None
    d_model = sd["encoder.conv1.weight"].shape[0]
    dims = {
        "n_mels": sd["encoder.conv1.weight"].shape[1],
        "n_audio_ctx": sd["encoder.positional_embedding"].shape[0],
        "n_audio_state": d_model,
        "n_audio_head": n_heads or d_model // 64,
        "n_audio_layer": n_enc,
        "n_vocab": sd["decoder.token_embedding.weight"].shape[0],
        "n_text_ctx": sd["decoder.positional_embedding"].shape[0],
        "n_text_state": sd["decoder.token_embedding.weight"].shape[1],
        "n_text_head": int(variables.get("decoder/num_heads", np.array(d_model // 64))),
        "n_text_layer": n_dec,
    }
    config = json.loads((model_dir / "config.json").read_text())
    return {"dims": dims, "model_state_dict": sd, "alignment_heads": config.get("alignment_heads")}


def save(checkpoint: dict, target) -> None:
    """Write the checkpoint as openai-whisper's ``load_model`` reads it (float32 tensors)."""
    import torch

    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in checkpoint["model_state_dict"].items()}
    torch.save(dict(checkpoint, model_state_dict=state), target)


if __name__ == "__main__":
    spec, v = read_ct2(Path(sys.argv[1]) / "model.bin")
    print(spec, len(v))
    for k, a in list(v.items()):
        print(k, a.dtype, a.shape)
