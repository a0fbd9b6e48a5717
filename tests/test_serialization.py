"""fastdl.serialization: save/load round trips, atomic writes, refusal of bad files."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from fastdl.serialization import load, save
from fastdl.tensor import Tensor, from_numpy


def _state():
    rng = np.random.default_rng(0)
    return OrderedDict(
        [
            ("z.weight", from_numpy(rng.standard_normal((3, 2)).astype(np.float32))),
            ("a.bias", rng.standard_normal(4)),  # float64
            ("m.steps", np.arange(6, dtype=np.int64).reshape(2, 3)),
            ("scalar", np.array(2.5, dtype=np.float32)),  # 0-d
            ("int0d", np.array(7, dtype=np.int64)),
            ("npscalar", np.float32(0.125)),
            ("empty", np.zeros((0, 5), dtype=np.float32)),
            ("fortran", np.asfortranarray(np.arange(6.0).reshape(2, 3))),
            ("bools", np.array([True, False])),
            ("text", "relu ünïcode \u2603"),
            ("nothing", None),
            ("flag", True),
            ("off", False),
            ("count", 12),
            ("big", 2**70),
            ("lr", 0.1),
            ("neg_zero", -0.0),
            (
                "nested",
                {
                    "layers": [
                        {"w": np.eye(2, dtype=np.float64), "act": "tanh"},
                        [1, [2, [3.5, None]], ()],
                    ],
                    "pair": (np.int64(3), "x"),
                    "empty_dict": {},
                    "empty_list": [],
                },
            ),
            (
                "optimizer",  # PyTorch-shaped: int keys, mixed with str keys
                {
                    "state": {3: {"step": 2, "exp_avg": np.ones(2)}, 0: {"step": 2}},
                    "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 3]}],
                    "mixed": {1: "int one", "1": "str one"},
                },
            ),
        ]
    )


def _assert_same(a, b, where="root"):
    assert type(a) is type(b) or (isinstance(a, Tensor) and isinstance(b, Tensor)), where
    if isinstance(a, Tensor):
        _assert_same(a.numpy(), b.numpy(), where)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype, where
        assert a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            _assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert a == b and np.signbit(a) == np.signbit(b), where
    else:
        assert a == b, where


def test_round_trip_exact(tmp_path):
    state = _state()
    path = tmp_path / "ckpt.fdl"
    save(state, path)
    back = load(path)
    assert isinstance(back, OrderedDict)
    _assert_same(state, back)
    assert isinstance(back["z.weight"], Tensor)
    assert isinstance(back["a.bias"], np.ndarray) and not isinstance(back["a.bias"], Tensor)
    # Loaded arrays are ordinary writable arrays.
    back["a.bias"][0] = 1.0


def test_order_kept_for_plain_dict_and_str_path(tmp_path):
    keys = [f"k{i}" for i in (5, 1, 9, 3, 0)]
    state = {k: np.full(2, i) for i, k in enumerate(keys)}
    path = str(tmp_path / "plain.fdl")
    save(state, path)
    back = load(path)
    assert type(back) is dict and list(back) == keys


def test_top_level_leaves(tmp_path):
    for obj in [np.arange(3), 3, "s", None, [1, 2], (np.float64(1.5),), float("inf")]:
        save(obj, tmp_path / "x.fdl")
        _assert_same(obj, load(tmp_path / "x.fdl"))
    save(float("nan"), tmp_path / "nan.fdl")
    assert np.isnan(load(tmp_path / "nan.fdl"))


def test_file_layout_is_zip_of_npy_with_manifest(tmp_path):
    path = tmp_path / "ckpt.fdl"
    save({"w": np.ones(3), "t": from_numpy(np.zeros(2))}, path)
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["format"] == "fastdl-checkpoint"
        assert manifest["version"] == 1
        types = [node["type"] for _, node in manifest["root"]["items"]]
        assert types == ["ndarray", "tensor"]
        for _, node in manifest["root"]["items"]:
            with zf.open(node["entry"]) as f:
                assert f.read(6) == b"\x93NUMPY"


def _listing(directory):
    return sorted(os.listdir(directory))


def test_atomic_no_temp_files_left(tmp_path):
    save(_state(), tmp_path / "a.fdl")
    save(_state(), tmp_path / "a.fdl")  # overwrite
    assert _listing(tmp_path) == ["a.fdl"]


@pytest.mark.parametrize(
    "bad, error, where",
    [
        ({"ok": np.ones(2), "bad": object()}, TypeError, "'bad'"),
        ({"ok": np.ones(2), "bad": np.array([1, "a", None], dtype=object)}, TypeError, "object"),
        ({"ok": [np.ones(2), {(3, 4): "tuple key"}]}, TypeError, "key"),
        ({"ok": {True: "bool key"}}, TypeError, "key"),
        ({"ok": {1.5: "float key"}}, TypeError, "key"),
        ({"ok": {1, 2}}, TypeError, "set"),
        ({"ok": [1, 2.0j]}, TypeError, "complex"),
    ],
)
def test_failed_save_leaves_existing_file_untouched(tmp_path, bad, error, where):
    path = tmp_path / "ckpt.fdl"
    save({"version": "original"}, path)
    before = path.read_bytes()
    with pytest.raises(error, match=where):
        save(bad, path)
    assert path.read_bytes() == before
    assert _listing(tmp_path) == ["ckpt.fdl"]
    assert load(path) == {"version": "original"}


def test_failed_write_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.fdl"
    save({"v": 1}, path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", boom)
    with pytest.raises(OSError, match="disk full"):
        save({"w": np.ones(3)}, path)
    assert path.read_bytes() == before
    assert _listing(tmp_path) == ["ckpt.fdl"]


def test_cycle_refused(tmp_path):
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="cycle"):
        save({"loop": loop}, tmp_path / "c.fdl")
    assert _listing(tmp_path) == []
    shared = np.ones(2)
    save([shared, shared], tmp_path / "shared.fdl")  # shared, not a cycle
    assert len(load(tmp_path / "shared.fdl")) == 2


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        save({}, tmp_path / "nope" / "x.fdl")


@pytest.mark.parametrize("keep", [0, 10, 100, 0.5, 0.9, -1])
def test_truncated_file(tmp_path, keep):
    path = tmp_path / "ckpt.fdl"
    save(_state(), path)
    data = path.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep
    path.write_bytes(data[:cut])
    with pytest.raises(ValueError, match="ckpt.fdl"):
        load(path)


def _write_zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)


def _manifest(root, fmt="fastdl-checkpoint", version=1):
    return json.dumps({"format": fmt, "version": version, "root": root})


def _npy_bytes(array, allow_pickle=False):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "entries, message",
    [
        ({"arrays/0.npy": _npy_bytes(np.ones(2))}, "manifest"),
        ({"manifest.json": b"{not json"}, "JSON"),
        ({"manifest.json": _manifest({"type": "none"}, fmt="other")}, "format"),
        ({"manifest.json": _manifest({"type": "none"}, version=2)}, "version"),
        ({"manifest.json": _manifest({"type": "none"}, version=True)}, "version"),
        ({"manifest.json": _manifest({"type": "ndarray", "entry": "arrays/0.npy"})}, "missing"),
        ({"manifest.json": _manifest({"type": "mystery"})}, "unknown node type"),
        ({"manifest.json": _manifest({"type": "int", "value": "7"})}, "int"),
        (
            {"manifest.json": _manifest({"type": "dict", "items": [[1.5, {"type": "none"}]]})},
            "item",
        ),
        (
            {
                "manifest.json": _manifest({"type": "ndarray", "entry": "arrays/0.npy"}),
                "arrays/0.npy": b"\x93NUMPY garbage",
            },
            "unreadable",
        ),
    ],
)
def test_bad_files_raise_value_error(tmp_path, entries, message):
    path = tmp_path / "bad.fdl"
    _write_zip(path, entries)
    with pytest.raises(ValueError, match=message) as info:
        load(path)
    assert "bad.fdl" in str(info.value)


def test_not_a_zip(tmp_path):
    path = tmp_path / "junk.fdl"
    path.write_bytes(b"definitely not a checkpoint" * 10)
    with pytest.raises(ValueError, match="junk.fdl"):
        load(path)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.fdl")


def test_pickled_npy_entry_is_refused(tmp_path):
    """A .npy that needs pickle (object dtype) must never be unpickled."""
    sentinel = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(sentinel), "w"))

    payload = _npy_bytes(np.array([Evil()], dtype=object), allow_pickle=True)
    path = tmp_path / "evil.fdl"
    _write_zip(
        path,
        {
            "manifest.json": _manifest({"type": "ndarray", "entry": "arrays/0.npy"}),
            "arrays/0.npy": payload,
        },
    )
    with pytest.raises(ValueError, match="evil.fdl"):
        load(path)
    assert not sentinel.exists()


def test_corrupt_entry_bytes_detected(tmp_path):
    path = tmp_path / "ckpt.fdl"
    save({"w": np.arange(1000, dtype=np.float64)}, path)
    data = bytearray(path.read_bytes())
    # Flip a byte in the middle of the array data (stored uncompressed): the CRC fails.
    start = data.find(b"\x93NUMPY")
    data[start + 500] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="ckpt.fdl"):
        load(path)


def test_requires_grad_round_trips(tmp_path):
    weight = from_numpy(np.ones((2, 2), dtype=np.float32)).requires_grad_(True)
    frozen = from_numpy(np.zeros(3, dtype=np.float64))
    save({"weight": weight, "frozen": frozen}, tmp_path / "p.fdl")
    back = load(tmp_path / "p.fdl")
    assert back["weight"].requires_grad is True
    assert back["frozen"].requires_grad is False
    np.testing.assert_array_equal(back["weight"].detach().numpy(), np.ones((2, 2)))
