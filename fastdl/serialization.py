"""Checkpoints without pickle: :func:`save` and :func:`load`.

A checkpoint is a zip file holding one ``.npy`` entry per array and a JSON
manifest, ``manifest.json``, that describes the structure::

    {"format": "fastdl-checkpoint", "version": 1,
     "root": {"type": "dict", "class": "OrderedDict", "items": [
         ["fc.weight", {"type": "tensor", "entry": "arrays/0.npy",
                        "shape": [10, 784], "dtype": "<f4"}],
         ["step", {"type": "int", "value": 100}]]}}

Node types: ``dict`` (str or int keys — int for PyTorch-shaped optimizer state
— kept in order, as a list of ``[key, node]`` pairs; ``class``
is ``"dict"`` or ``"OrderedDict"``), ``list``, ``tuple``, ``ndarray``,
``tensor`` (a :class:`fastdl.Tensor`, comes back as one, with
``"requires_grad": true`` when it required grad), ``numpy_scalar`` (a
NumPy scalar such as ``np.float32(1.5)``), ``int``, ``float``, ``bool``,
``str`` and ``none``. Floats are written with Python's ``repr`` (exact round
trip); non-finite floats use JSON's ``NaN``/``Infinity`` extension.

A whole :class:`fastdl.nn.Module` (``torch.save(model, f)``) is a ``module`` node: its
class's import path and its attributes (``vars``); inside it, Tensors and Modules
carry an ``id`` and later occurrences are ``ref`` nodes (shared objects stay shared),
Parameters are marked ``"parameter": true`` and sets of names are ``set`` nodes.
:func:`load` rebuilds fastdl's own classes, and others only when allowed with
:class:`safe_globals` or :func:`add_safe_globals` (as ``torch.load`` asks): a class is
matched by its path, never imported from the file.

Array nodes carry their ``shape`` and ``dtype`` (NumPy's ``dtype.str``); loading
checks each ``.npy`` header against them (files without them still load), and
the zip's CRC-32 of every entry catches flipped bytes, so a corrupted file raises
ValueError instead of loading wrong numbers. For a whole training run (model,
optimizer, scheduler, RNG, data order) see :func:`fastdl.train.save_training_state`.

Files are read with :mod:`json` and ``np.load(..., allow_pickle=False)``
only: loading a checkpoint never runs code from it. Object arrays are refused
when saving.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import stat
import time
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

from fastdl import _safezip

try:
    import fcntl
except ImportError:  # Windows: stale temp files are recognised by age alone
    fcntl = None

FORMAT = "fastdl-checkpoint"
VERSION = 1
MANIFEST = "manifest.json"
# Limits :func:`save` keeps and :func:`load` enforces: a manifest this large describes
# hundreds of thousands of arrays, and no state dict nests this deep.
MAX_MANIFEST_BYTES = 16 << 20
MAX_DEPTH = 100


def _tensor_api():
    """``(Tensor, from_numpy)``, or ``(None, None)`` when fastdl.tensor is absent."""
    try:
        from fastdl.tensor import Tensor, from_numpy
    except ModuleNotFoundError as exc:
        if exc.name != "fastdl.tensor":
            raise
        return None, None
    return Tensor, from_numpy


def _tensor_array(t) -> np.ndarray:
    """The CPU array behind Tensor ``t`` (detached: ``numpy()`` refuses tensors
    that require grad)."""
    t = t.detach()
    if getattr(t, "device", "cpu") != "cpu":
        t = t.cpu()
    return np.asarray(t.numpy())


def _valid_key(key) -> bool:
    """Dict keys JSON keeps exactly: str, and int (not bool)."""
    return isinstance(key, str) or (isinstance(key, int) and not isinstance(key, bool))


# --- saving ---------------------------------------------------------------------


class _Encoder:
    """Walks an object, building the manifest tree and the list of arrays to write."""

    def __init__(self):
        self.arrays: list[tuple[str, np.ndarray]] = []
        self.tensor_type, _ = _tensor_api()
        self._active: set[int] = set()
        # Tensors and Modules inside a saved Module: written once, then referred to,
        # so objects shared between attributes stay shared when loaded.
        self._shared: dict[int, tuple[int, Any]] = {}
        self._in_module = 0

    def _add_array(self, array: np.ndarray, where: str) -> str:
        if array.dtype.hasobject:
            raise TypeError(
                f"save: {where} is an array of object dtype ({array.dtype}); "
                "only arrays that need no pickle can be saved"
            )
        name = f"arrays/{len(self.arrays)}.npy"
        self.arrays.append((name, array))
        return name

    def _array_node(self, kind: str, array: np.ndarray, where: str) -> dict:
        # shape and dtype in the manifest too: load checks the .npy header against them.
        entry = self._add_array(array, where)
        return {"type": kind, "entry": entry, "shape": list(array.shape), "dtype": array.dtype.str}

    def encode(self, obj, where: str, depth: int = 0):
        # bool before int (bool is an int); NumPy scalars before float/str
        # (np.float64 is a float, np.str_ a str).
        if obj is None:
            return {"type": "none"}
        if id(obj) in self._shared:
            return {"type": "ref", "id": self._shared[id(obj)][0]}
        if self.tensor_type is not None and isinstance(obj, self.tensor_type):
            node = self._array_node("tensor", _tensor_array(obj), where)
            if obj.requires_grad:
                node["requires_grad"] = True
            if self._in_module:
                node["id"] = self._share(obj)
                if _is_parameter(obj):
                    node["parameter"] = True
            return node
        if _is_module(obj):
            return self._encode_module(obj, where, depth)
        if isinstance(obj, set | frozenset) and self._in_module:
            if not all(isinstance(v, str) for v in obj):
                raise TypeError(f"save: {where} is a set of other things than str")
            return {"type": "set", "items": sorted(obj)}
        if isinstance(obj, np.ndarray):
            return self._array_node("ndarray", np.asarray(obj), where)
        if isinstance(obj, np.generic):
            return self._array_node("numpy_scalar", np.asarray(obj), where)
        if isinstance(obj, bool):
            return {"type": "bool", "value": obj}
        if isinstance(obj, int):
            return {"type": "int", "value": int(obj)}
        if isinstance(obj, float):
            return {"type": "float", "value": float(obj)}
        if isinstance(obj, str):
            return {"type": "str", "value": str(obj)}
        if isinstance(obj, (dict, list, tuple)):
            if id(obj) in self._active:
                raise ValueError(f"save: {where} contains itself (a reference cycle)")
            if depth >= MAX_DEPTH:
                raise ValueError(f"save: {where} is nested more than {MAX_DEPTH} deep")
            self._active.add(id(obj))
            try:
                return self._encode_container(obj, where, depth + 1)
            finally:
                self._active.discard(id(obj))
        raise TypeError(
            f"save: {where} has unsupported type {type(obj).__module__}."
            f"{type(obj).__qualname__}; expected dict, list, tuple, NumPy array, "
            "Tensor, Module, int, float, bool, str or None"
        )

    def _share(self, obj: Any) -> int:
        ident = len(self._shared)
        self._shared[id(obj)] = (ident, obj)  # obj kept alive: ids stay unique
        return ident

    def _encode_module(self, module: Any, where: str, depth: int) -> dict:
        """A Module as its class's import path and its attributes (``vars``), as
        ``torch.save(model)`` pickles it; loading rebuilds only allowed classes."""
        cls = type(module)
        if depth >= MAX_DEPTH:
            raise ValueError(f"save: {where} is nested more than {MAX_DEPTH} deep")
        ident = self._share(module)
        self._in_module += 1
        try:
            attrs = self.encode(dict(vars(module)), f"{where}.__dict__", depth + 1)
        finally:
            self._in_module -= 1
        return {
            "type": "module",
            "class": f"{cls.__module__}:{cls.__qualname__}",
            "id": ident,
            "attrs": attrs,
        }

    def _encode_container(self, obj, where: str, depth: int):
        if isinstance(obj, dict):
            items = []
            for key, value in obj.items():
                if not _valid_key(key):
                    raise TypeError(
                        f"save: {where} has a key {key!r} of type "
                        f"{type(key).__name__}; dict keys must be str or int"
                    )
                key = key if isinstance(key, str) else int(key)
                items.append([key, self.encode(value, f"{where}[{key!r}]", depth)])
            kind = "OrderedDict" if isinstance(obj, OrderedDict) else "dict"
            return {"type": "dict", "class": kind, "items": items}
        kind = "tuple" if isinstance(obj, tuple) else "list"
        return {
            "type": kind,
            "items": [self.encode(v, f"{where}[{i}]", depth) for i, v in enumerate(obj)],
        }


def _fsync_directory(directory: str) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _lock(f) -> None:
    """Hold an exclusive lock on an open temp file while it is written (POSIX): the
    lock dies with its process, so a temp file nobody holds is a dead writer's."""
    if fcntl is not None:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)


def _remove_if_abandoned(candidate: str, before: float) -> None:
    try:
        fd = os.open(candidate, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except OSError:
        return
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_mtime >= before:
            return
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return  # a live writer holds it
        os.unlink(candidate)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_stale_temps(directory: str, base: str, before: float) -> None:
    """Remove temp files of earlier saves to ``base`` that were abandoned (their
    writer died): they match this module's temp-name pattern, are older than
    ``before`` and no live writer holds their lock."""
    pattern = re.compile(rf"\.{re.escape(base)}\.[0-9a-f]{{16}}\.tmp")
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if pattern.fullmatch(name):
            _remove_if_abandoned(os.path.join(directory, name), before)


def save(obj: Any, f: Any, format: str = "fastdl") -> None:  # noqa: A002
    """Write ``obj`` to ``f`` as a fastdl checkpoint: ``f`` is a path (str or
    os.PathLike) or a binary file object open for writing.

    ``obj`` is a nest of dicts (str or int keys; order kept, OrderedDicts come back as
    OrderedDicts), lists and tuples whose leaves are NumPy arrays, Tensors,
    NumPy scalars, ``int``, ``float``, ``bool``, ``str`` or ``None``. With
    ``format="safetensors"``, ``obj`` is a flat ``{name: tensor}`` dict written by
    :func:`fastdl.save_safetensors` instead.

    The whole structure is checked before anything is written. A path is written
    atomically: to a temporary file in the same directory, flushed and fsynced,
    then moved over ``path`` with ``os.replace``. A failed save leaves an existing
    ``path`` untouched and no temporary file behind, and a successful one removes
    the temporary files that writers killed mid-save left for the same ``path``. A
    file object is written from its current position and left open.

    Raises:
        TypeError: an unsupported leaf, a non-str dict key or an object-dtype
            array (the message says where in the structure).
        ValueError: the structure contains itself, is nested more than
            ``MAX_DEPTH`` deep, or needs a manifest over ``MAX_MANIFEST_BYTES``;
            or an unknown ``format``.

    Example:
        >>> import numpy as np, tempfile, os
        >>> state = {"w": np.ones((2, 3), np.float32), "step": 10, "note": None}
        >>> path = os.path.join(tempfile.mkdtemp(), "model.fdl")
        >>> save(state, path)
        >>> back = load(path)
        >>> back["step"], back["w"].dtype, list(back)
        (10, dtype('float32'), ['w', 'step', 'note'])
    """
    if format == "safetensors":
        from fastdl.safetensors_io import save_safetensors

        save_safetensors(obj, f)
        return
    if format != "fastdl":
        raise ValueError(f"save: format must be 'fastdl' or 'safetensors', got {format!r}")
    encoder = _Encoder()
    root = encoder.encode(obj, "root")
    manifest = json.dumps(
        {"format": FORMAT, "version": VERSION, "root": root}, ensure_ascii=True
    ).encode("ascii")
    if len(manifest) > MAX_MANIFEST_BYTES:
        raise ValueError(
            f"save: the manifest would be {len(manifest)} bytes, more than the "
            f"{MAX_MANIFEST_BYTES} a checkpoint may hold"
        )

    def write(out: BinaryIO) -> None:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr(MANIFEST, manifest)
            for name, array in encoder.arrays:
                with zf.open(name, "w", force_zip64=True) as entry:
                    np.lib.format.write_array(entry, array, allow_pickle=False)

    if _is_writable_file(f):
        write(f)
    else:
        write_atomically(f, write)


def _is_writable_file(f: Any) -> bool:
    return callable(getattr(f, "write", None))


def write_atomically(path: Any, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, then move it over
    ``path`` (see :func:`save`): a failure leaves ``path`` as it was."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save: cannot write {path}: no directory {directory}")
    base = os.path.basename(path)
    tmp = os.path.join(directory, f".{base}.{secrets.token_hex(8)}.tmp")
    started = time.time()
    # "x": O_EXCL, and the usual 0o666 & ~umask permissions (mkstemp's 0o600
    # would leave checkpoints unreadable to the rest of a group).
    f = open(tmp, "xb")
    try:
        with f:
            _lock(f)
            write(f)
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)
    _remove_stale_temps(directory, base, started)


# --- loading --------------------------------------------------------------------

_LEAF_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


class _Decoder:
    def __init__(self, zf: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo], path: str):
        self.zf = zf
        self.path = path
        self.entries = entries
        self.used: set[str] = set()
        self.from_numpy = None
        self.shared: dict[int, Any] = {}

    def error(self, message: str) -> ValueError:
        return ValueError(f"{self.path}: {message}")

    def read_array(self, node, where: str) -> np.ndarray:
        entry = node.get("entry")
        if not isinstance(entry, str):
            raise self.error(f"corrupt manifest: {where} has no entry name")
        if entry not in self.entries:
            raise self.error(f"manifest references missing entry {entry!r} ({where})")
        if entry in self.used:  # save writes one entry per array
            raise self.error(f"corrupt manifest: entry {entry!r} referenced twice ({where})")
        self.used.add(entry)
        try:
            array = _safezip.read_npy(self.zf, self.entries[entry], f"entry {entry!r} ({where})")
        except _safezip.PARSE_ERRORS as exc:
            raise self.error(f"entry {entry!r} ({where}) is unreadable: {exc}") from exc
        # Optional (older files lack them): the manifest's shape and dtype must match.
        shape, dtype = node.get("shape"), node.get("dtype")
        if shape is not None and (not isinstance(shape, list) or tuple(shape) != array.shape):
            raise self.error(
                f"corrupt checkpoint: entry {entry!r} ({where}) has shape {array.shape}, "
                f"the manifest says {shape!r}"
            )
        if dtype is not None and dtype != array.dtype.str:
            raise self.error(
                f"corrupt checkpoint: entry {entry!r} ({where}) has dtype {array.dtype.str}, "
                f"the manifest says {dtype!r}"
            )
        return array

    def decode(self, node, where: str, depth: int = 0):
        if depth > MAX_DEPTH:
            raise self.error(f"corrupt manifest: {where} is nested more than {MAX_DEPTH} deep")
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            raise self.error(f"corrupt manifest: {where} is not a typed node")
        kind = node["type"]
        if kind == "none":
            return None
        if kind in _LEAF_TYPES:
            value = node.get("value")
            expected = _LEAF_TYPES[kind]
            ok = isinstance(value, expected) and (kind == "bool" or not isinstance(value, bool))
            if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
                try:
                    value, ok = float(value), True
                except OverflowError:
                    ok = False
            if not ok:
                raise self.error(f"corrupt manifest: {where} is not a valid {kind}")
            return value
        if kind == "ndarray":
            return self.read_array(node, where)
        if kind == "numpy_scalar":
            array = self.read_array(node, where)
            if array.ndim != 0:
                raise self.error(f"corrupt manifest: {where} scalar has shape {array.shape}")
            return array[()]
        if kind == "tensor":
            array = self.read_array(node, where)
            if self.from_numpy is None:
                _, self.from_numpy = _tensor_api()
                if self.from_numpy is None:
                    raise ImportError(
                        f"{self.path}: {where} is a Tensor but fastdl.tensor is unavailable"
                    )
            try:
                tensor = self.from_numpy(array)
            except (TypeError, ValueError) as exc:
                raise self.error(f"{where} cannot be a Tensor: {exc}") from exc
            requires_grad = node.get("requires_grad", False)
            if not isinstance(requires_grad, bool):
                raise self.error(f"corrupt manifest: {where} has a bad requires_grad")
            if requires_grad:
                if not np.issubdtype(array.dtype, np.inexact):
                    raise self.error(
                        f"corrupt manifest: {where} of dtype {array.dtype} cannot require grad"
                    )
                tensor.requires_grad_(True)
            if node.get("parameter") is True:
                from fastdl.nn.parameter import Parameter

                tensor = Parameter(tensor, requires_grad=bool(requires_grad))
            if "id" in node:
                self._remember(node["id"], tensor, where)
            return tensor
        if kind == "ref":
            found = self.shared.get(node.get("id")) if isinstance(node.get("id"), int) else None
            if found is None:
                raise self.error(f"corrupt manifest: {where} refers to an unknown object")
            return found
        if kind == "set":
            items = node.get("items")
            if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
                raise self.error(f"corrupt manifest: {where} is not a set of str")
            return set(items)
        if kind == "module":
            return self._decode_module(node, where, depth)
        if kind in ("list", "tuple"):
            items = node.get("items")
            if not isinstance(items, list):
                raise self.error(f"corrupt manifest: {where} has no item list")
            values = [self.decode(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(items)]
            return tuple(values) if kind == "tuple" else values
        if kind == "dict":
            items = node.get("items")
            if not isinstance(items, list):
                raise self.error(f"corrupt manifest: {where} has no item list")
            cls = node.get("class", "dict")
            if cls not in ("dict", "OrderedDict"):
                raise self.error(f"corrupt manifest: {where} has unknown class {cls!r}")
            out = OrderedDict() if cls == "OrderedDict" else {}
            for pair in items:
                if not (isinstance(pair, list) and len(pair) == 2 and _valid_key(pair[0])):
                    raise self.error(f"corrupt manifest: {where} has a malformed item")
                key, value = pair
                out[key] = self.decode(value, f"{where}[{key!r}]", depth + 1)
            return out
        raise self.error(f"corrupt manifest: {where} has unknown node type {kind!r}")

    def _remember(self, ident: Any, obj: Any, where: str) -> None:
        if not isinstance(ident, int) or isinstance(ident, bool) or ident in self.shared:
            raise self.error(f"corrupt manifest: {where} has a bad or repeated id")
        self.shared[ident] = obj

    def _decode_module(self, node: dict, where: str, depth: int) -> Any:
        name = node.get("class")
        cls = _allowed_class(name) if isinstance(name, str) else None
        if cls is None:
            raise self.error(
                f"{where} is a Module of class {name!r}, which load does not rebuild: "
                "fastdl's own layers load as they are; wrap fastdl.load in "
                "fastdl.serialization.safe_globals([YourModule, ...]) (or call "
                "add_safe_globals) to allow your own classes, as torch.load asks"
            )
        module = cls.__new__(cls)
        self._remember(node.get("id"), module, where)
        attrs = self.decode(node.get("attrs"), f"{where}.__dict__", depth + 1)
        if not isinstance(attrs, dict) or not all(isinstance(k, str) for k in attrs):
            raise self.error(f"corrupt manifest: {where} has malformed attributes")
        module.__dict__.update(attrs)
        return module


def _read_manifest(zf: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo], path: str):
    info = entries.get(MANIFEST)
    if info is None:
        raise ValueError(f"{path}: not a fastdl checkpoint: no {MANIFEST} in the zip file")
    try:
        raw = _safezip.read_entry(zf, info, MAX_MANIFEST_BYTES, MANIFEST)
    except _safezip.PARSE_ERRORS as exc:
        raise ValueError(f"{path}: {MANIFEST} is unreadable: {exc}") from exc
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{path}: {MANIFEST} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise ValueError(f"{path}: unknown checkpoint format {found!r}; expected {FORMAT!r}")
    version = manifest.get("version")
    if version != VERSION or isinstance(version, bool):
        raise ValueError(
            f"{path}: unsupported {FORMAT} version {version!r}; this fastdl reads version {VERSION}"
        )
    if "root" not in manifest:
        raise ValueError(f"{path}: corrupt manifest: no 'root' node")
    return manifest["root"]


def load(f: Any) -> Any:
    """Read a checkpoint written by :func:`save` from a path or a binary file object
    open for reading (read from its current position).

    Arrays come back as NumPy arrays, Tensors as Tensors (built with
    ``fastdl.tensor.from_numpy``), dicts in their saved order. Only
    :mod:`json` and ``np.load(..., allow_pickle=False)``'s header parser touch the
    file, and only files shaped as :func:`save` writes them are accepted: a regular
    file (never a FIFO or device), uncompressed unencrypted unique zip entries, a
    manifest of at most ``MAX_MANIFEST_BYTES`` nested at most ``MAX_DEPTH`` deep, and
    ``.npy`` entries whose headers declare exactly the bytes the zip directory gives
    them — so memory stays bounded by the file's size whatever its bytes say.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a regular file, is truncated or corrupt, is not a
            zip file, has no ``manifest.json``, has an unknown format or version,
            references a missing entry, or holds an entry that does not parse or
            would need pickle (the message names the path and the entry).

    Example:
        >>> import numpy as np, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.fdl")
        >>> save({"layers": [np.zeros(3), (1, 2.5, "relu")]}, path)
        >>> load(path)["layers"][1]
        (1, 2.5, 'relu')
    """
    if callable(getattr(f, "read", None)):
        name = str(getattr(f, "name", "<file object>"))
        if isinstance(f, io.TextIOBase):
            raise TypeError(f"load: {name} must be opened in binary mode ('rb')")
        data = f.read()
        if not isinstance(data, bytes | bytearray):
            raise TypeError(f"load: {name} must be opened in binary mode ('rb')")
        return _load_zip(io.BytesIO(data), len(data), name)
    path = os.fspath(f)
    with _safezip.open_regular(path) as opened:
        return _load_zip(opened, os.fstat(opened.fileno()).st_size, path)


def _load_zip(f: BinaryIO, size: int, path: str) -> Any:
    try:
        zf = zipfile.ZipFile(f, "r")
    except _safezip.PARSE_ERRORS as exc:
        raise ValueError(
            f"{path}: not a fastdl checkpoint (truncated or not a zip file: {exc})"
        ) from exc
    with zf:
        entries = _safezip.check_directory(zf, size, path)
        root = _read_manifest(zf, entries, path)
        return _Decoder(zf, entries, path).decode(root, "root")


_SAFE_GLOBALS: list[type] = []


def _is_module(obj: Any) -> bool:
    from fastdl.nn.module import Module  # fastdl.nn imports this module's users

    return isinstance(obj, Module)


def _is_parameter(obj: Any) -> bool:
    from fastdl.nn.parameter import Parameter

    return isinstance(obj, Parameter)


def _allowed_class(name: str) -> type | None:
    """The Module class ``"module:qualname"`` names, if load may rebuild it: one of
    fastdl's own (``fastdl.*``, already imported), or one the caller allowed with
    :class:`safe_globals` / :func:`add_safe_globals`. Nothing is imported by name."""
    import sys

    from fastdl.nn.module import Module

    for cls in _SAFE_GLOBALS:
        if isinstance(cls, type) and f"{cls.__module__}:{cls.__qualname__}" == name:
            return cls
    module_name, _, qualname = name.partition(":")
    if not module_name.startswith("fastdl.") or module_name not in sys.modules:
        return None
    found: Any = sys.modules[module_name]
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found if isinstance(found, type) and issubclass(found, Module) else None


class safe_globals:
    """``torch.serialization.safe_globals``: a context manager (and decorator) naming
    the Module classes beyond fastdl's own that :func:`load` may rebuild from a saved
    whole Module. Nothing in a checkpoint is ever unpickled; the classes are matched by
    their import path.

    Example::

        >>> with safe_globals([dict]):
        ...     pass
    """

    def __init__(self, safe_globals: list) -> None:
        self.safe_globals = list(safe_globals)

    def __enter__(self) -> safe_globals:
        _SAFE_GLOBALS.extend(self.safe_globals)
        return self

    def __exit__(self, *exc: Any) -> None:
        for item in self.safe_globals:
            _SAFE_GLOBALS.remove(item)

    def __call__(self, fn: Callable) -> Callable:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)

        return wrapped


def add_safe_globals(safe_globals: list) -> None:
    """``torch.serialization.add_safe_globals``: allow these Module classes in every
    later :func:`load` (see :class:`safe_globals`)."""
    _SAFE_GLOBALS.extend(safe_globals)
