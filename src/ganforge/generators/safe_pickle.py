"""Reading a stylegan2-ada-pytorch network pickle without running any of its code.

The official snapshots (`network-snapshot-*.pkl`, and the published ffhq/afhq/metfaces pickles)
are plain `pickle.dump`s of a dict whose networks are "persistent" objects: each is stored as
`torch_utils.persistence._reconstruct_persistent_obj(meta)`, where `meta` holds the source
code of the module that defined the class, the class name and the object's `__dict__`. Loading
such a pickle normally imports that source, i.e. runs arbitrary code from the file.

`SafeUnpickler` resolves only the globals in `ALLOWED`, each to a ganforge function that
builds inert data: a persistent object becomes a `PersistentRecord` (class name, state, the
source's SHA-256; the source text is kept as data and never compiled), tensor storages are
read by `torch.load(weights_only=True)` (torch's own restricted unpickler), tensors and
parameters are rebuilt by torch's rebuild functions. Any other global (`posix.system`,
`builtins.eval`, `subprocess.Popen`, a torch module class, ...) stops the read with a one-line
error naming it, before anything of it is called.
"""

from __future__ import annotations

import collections
import hashlib
import io
import pickle
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.errors import GanforgeError


@dataclass
class PersistentRecord:
    """What a persistent object of the official code holds, as data: its class name, its
    `__dict__` (parameters, buffers, submodules, attributes) and the constructor arguments
    that `persistence` recorded (`_init_args`, `_init_kwargs`)."""

    class_name: str
    state: dict[str, Any]
    version: int | None = None
    source_sha256: str = ""
    source_chars: int = 0

    def __setstate__(self, state: Any) -> None:
        """A BUILD opcode on a record: the official pickles never send one (their state is in meta)."""
        raise GanforgeError("a persistent object of the pickle carries state outside its meta dict")

    @property
    def init_kwargs(self) -> dict[str, Any]:
        return dict(self.state.get("_init_kwargs") or {})

    @property
    def children(self) -> dict[str, Any]:
        return dict(self.state.get("_modules") or {})


class EasyDict(dict):
    """dnnlib's EasyDict (a dict with attribute access) as a plain dict: no code of dnnlib."""


def _persistent_object(meta: Any) -> PersistentRecord:
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise GanforgeError("a persistent object of the pickle is not a class instance with a state "
                            "dict (torch_utils.persistence, type 'class'): not a stylegan2-ada-pytorch pickle")
    source = meta.get("module_src") or ""
    if not isinstance(source, str):
        raise GanforgeError("a persistent object's module_src is not text")
    return PersistentRecord(
        class_name=str(meta.get("class_name", "?")), state=dict(meta["state"]),
        version=meta.get("version"), source_sha256=hashlib.sha256(source.encode()).hexdigest(),
        source_chars=len(source))


def _storage_from_bytes(data: Any) -> Any:
    """torch.storage._load_from_bytes, but with torch's weights-only unpickler."""
    if not isinstance(data, bytes):
        raise GanforgeError("a tensor storage of the pickle is not bytes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage deprecation: the format is what it is
        try:
            storage = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any failure: the storage is unusable
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise GanforgeError(f"a tensor storage could not be read safely ({first})") from None
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise GanforgeError(f"a tensor storage of the pickle holds a {type(storage).__name__}")
    return storage


def _tensor(storage: Any, offset: int, size: Any, stride: Any, *rest: Any) -> torch.Tensor:
    """torch._utils._rebuild_tensor_v2 for storages that `_storage_from_bytes` made."""
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise GanforgeError("a tensor of the pickle is not built on a tensor storage")
    if not (isinstance(offset, int) and all(isinstance(v, int) for v in (*size, *stride))):
        raise GanforgeError("a tensor of the pickle has a non-integer offset, size or stride")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False,
                                               collections.OrderedDict())


def _parameter(data: Any, *rest: Any) -> torch.Tensor:
    """A parameter is kept as its tensor (requires_grad, hooks and state are training-time)."""
    if not isinstance(data, torch.Tensor):
        raise GanforgeError("a parameter of the pickle is not a tensor")
    return data


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise GanforgeError("a numpy scalar of the pickle is not plain numeric data")
    return np.frombuffer(data, dtype=dtype)[0]


def _numpy_dtype(kind: Any, *rest: Any) -> np.dtype:
    if not isinstance(kind, str):
        raise GanforgeError("a numpy dtype of the pickle is not named by a string")
    dtype = np.dtype(kind)
    if dtype.hasobject:
        raise GanforgeError(f"numpy dtype '{kind}' holds Python objects")
    return dtype


ALLOWED: dict[tuple[str, str], Callable[..., Any]] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_object,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    ("torch._utils", "_rebuild_tensor_v2"): _tensor,
    ("torch._utils", "_rebuild_parameter"): _parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _parameter,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy", "dtype"): _numpy_dtype,
}


class RefusedGlobal(pickle.UnpicklingError):
    """A global outside `ALLOWED`: its name, for the error message."""


class SafeUnpickler(pickle.Unpickler):
    """A pickle.Unpickler that resolves only `ALLOWED` globals and no persistent ids."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise RefusedGlobal(f"{module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise RefusedGlobal(f"persistent id {str(pid)[:60]!r} (a torch.save file, not a network pickle)")


def read_network_pickle(path: Path | str) -> dict[str, Any]:
    """The pickle's top-level dict (G, D, G_ema, augment_pipe as PersistentRecords, ...)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = SafeUnpickler(f).load()
    except RefusedGlobal as exc:
        raise GanforgeError(f"'{path}' refused: it asks for {exc}, which a stylegan2-ada-pytorch network "
                            "pickle never needs (nothing of it was run)") from None
    except GanforgeError as exc:
        raise GanforgeError(f"'{path}': {exc}") from None
    except OSError as exc:
        raise GanforgeError(f"cannot read '{path}' ({exc.strerror or exc})") from None
    except Exception as exc:  # noqa: BLE001 - truncated or corrupt pickles raise many kinds
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise GanforgeError(f"'{path}' is not a readable pickle ({type(exc).__name__}: {first})") from None
    if not isinstance(data, dict):
        raise GanforgeError(f"'{path}' holds a {type(data).__name__}, not a stylegan2-ada-pytorch snapshot "
                            "(a dict with G_ema)")
    return data


def module_tensors(record: PersistentRecord, where: str) -> dict[str, torch.Tensor]:
    """The record's state dict as torch's `state_dict()` would give it: parameters, persistent
    buffers and submodules', with dotted keys."""
    out: dict[str, torch.Tensor] = {}

    def walk(node: Any, prefix: str) -> None:
        if not isinstance(node, PersistentRecord):
            raise GanforgeError(f"{where}: submodule '{prefix.rstrip('.') or '(root)'}' is a "
                                f"{type(node).__name__}, not an official persistent network")
        state = node.state
        skip = set(state.get("_non_persistent_buffers_set") or ())
        for kind in ("_parameters", "_buffers"):
            for key, value in (state.get(kind) or {}).items():
                if value is None or (kind == "_buffers" and key in skip):
                    continue
                if not isinstance(value, torch.Tensor):
                    raise GanforgeError(f"{where}: '{prefix}{key}' is not a tensor")
                out[prefix + key] = value
        for key, child in node.children.items():
            if child is not None:
                walk(child, f"{prefix}{key}.")

    walk(record, "")
    return out
