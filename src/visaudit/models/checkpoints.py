"""Safe checkpoint loading and weight fingerprints."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

from visaudit import settings
from visaudit.errors import UnsafeCheckpointError, VisauditError


def load_state_dict(path: str | Path) -> dict:
    """Load tensors from a safetensors file or a torch file, without arbitrary unpickling.

    Accepts a plain state dict or a dict holding one under ``state_dict``/``model``; strips a
    ``module.`` prefix (DataParallel).

    Raises:
        UnsafeCheckpointError: the file needs arbitrary unpickling (refused).
        VisauditError: the file is not a checkpoint.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise VisauditError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as err:
            raise VisauditError(f"{path} is not a valid safetensors file: {err}") from err
    with open(path, "rb") as f:
        head = f.read(2)
    if not zipfile.is_zipfile(path) and head[:1] != b"\x80":  # neither torch's zip format nor a legacy pickle
        raise VisauditError(f"{path} is neither a PyTorch checkpoint, a TorchScript file nor safetensors")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        text = str(err)
        if "Weights only load failed" in text or "Unsupported global" in text or "weights_only" in text:
            raise UnsafeCheckpointError(
                f"{path} needs arbitrary unpickling to load, which visaudit refuses (it could run code). "
                "Save the weights as a state dict of tensors (torch.save(model.state_dict(), ...)) or as safetensors."
            ) from err
        raise VisauditError(
            f"{path} is not a PyTorch checkpoint: {text.splitlines()[0] if text else type(err).__name__}"
        ) from err
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise VisauditError(f"{path} does not hold a state dict of tensors")
    return {k[7:] if k.startswith("module.") else k: v for k, v in obj.items()}


def is_torchscript(path: Path) -> bool:
    """True for a TorchScript archive (a zip with a ``code/`` folder)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any("/code/" in n for n in zf.namelist())


def state_dict_sha256(module) -> str:
    """sha256 over (name, dtype, shape, bytes) of every tensor in the state dict, in order."""
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.view(-1).view(__import__("torch").uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


class FingerprintMemo:
    """Remembers weight fingerprints keyed by the weight file's (path, size, mtime) or a hub id,
    so a repeated run can compute its cache keys without loading the model."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or settings.cache_dir() / "weight-fingerprints.json"

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def get(self, key: str) -> str | None:
        return self._read().get(key)

    def put(self, key: str, value: str) -> None:
        data = self._read()
        data[key] = value
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=0, sort_keys=True))
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only cache only costs speed


def file_memo_key(path: Path, extra: str = "") -> str:
    st = Path(path).stat()
    return f"file:{Path(path).resolve()}:{st.st_size}:{st.st_mtime_ns}:{extra}"
