"""fastdl.load on hostile files: only ValueError, bounded memory, no blocking; save's
temp-file hygiene; hypothesis fuzzing of checkpoint bytes and manifests."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import threading
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastdl.serialization import MAX_DEPTH, MAX_MANIFEST_BYTES, load, save

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _manifest(root) -> bytes:
    return json.dumps({"format": "fastdl-checkpoint", "version": 1, "root": root}).encode()


def _npy_header(shape, descr="<f8", fortran=False) -> bytes:
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": fortran, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def _write_zip(path, entries, compression=zipfile.ZIP_STORED, flag_bits=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in entries:
                info = zipfile.ZipInfo(name)
                info.compress_type = compression
                zf.writestr(info, data)
    if flag_bits:  # zipfile resets the flags it writes: set them in both headers
        data = bytearray(path.read_bytes())
        for magic, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            at = data.find(magic)
            while at >= 0:
                data[at + offset] |= flag_bits
                at = data.find(magic, at + 4)
        path.write_bytes(bytes(data))


ARRAY = {"type": "ndarray", "entry": "arrays/0.npy"}


def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "entries, kwargs, message",
    [
        (
            [("manifest.json", _manifest(ARRAY)), ("arrays/0.npy", _npy(np.ones(3)))],
            {"compression": zipfile.ZIP_DEFLATED},
            "compressed",
        ),
        (
            [("manifest.json", _manifest(ARRAY)), ("arrays/0.npy", _npy(np.ones(3)))],
            {"compression": zipfile.ZIP_LZMA},
            "compressed",
        ),
        (
            [("manifest.json", _manifest(ARRAY)), ("arrays/0.npy", _npy(np.ones(3)))],
            {"compression": zipfile.ZIP_BZIP2},
            "compressed",
        ),
        (
            [("manifest.json", _manifest(ARRAY)), ("arrays/0.npy", _npy(np.ones(3)))],
            {"flag_bits": 0x1},
            "encrypted",
        ),
        (
            [
                ("manifest.json", _manifest(ARRAY)),
                ("arrays/0.npy", _npy(np.ones(3))),
                ("arrays/0.npy", _npy(np.zeros(3))),
            ],
            {},
            "duplicate",
        ),
        (
            [
                ("manifest.json", _manifest({"type": "list", "items": [ARRAY, ARRAY]})),
                ("arrays/0.npy", _npy(np.ones(3))),
            ],
            {},
            "twice",
        ),
        (
            [("manifest.json", _manifest(ARRAY)), ("arrays/0.npy", _npy_header((1 << 40,)))],
            {},
            "declares",
        ),
        (
            [("manifest.json", _manifest(ARRAY)), ("arrays/0.npy", _npy_header((4,)) + b"\0" * 31)],
            {},
            "declares",
        ),
        (
            [
                ("manifest.json", _manifest(ARRAY)),
                ("arrays/0.npy", _npy_header((2,)).replace(b"(2,)", b"(2,(") + b"\0" * 16),
            ],
            {},
            "arrays/0.npy",
        ),
        (
            [
                ("manifest.json", _manifest(ARRAY)),
                ("arrays/0.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8' \n"),
            ],
            {},
            "arrays/0.npy",
        ),
        (
            [
                ("manifest.json", _manifest(ARRAY)),
                ("arrays/0.npy", b"\x93NUMPY\x03\x00" + b"\0" * 10),
            ],
            {},
            "arrays/0.npy",
        ),
        ([("manifest.json", b"[" * 100_000 + b"]" * 100_000)], {}, "JSON"),
        ([("manifest.json", _manifest({"type": "float", "value": 10**400}))], {}, "float"),
        ([("manifest.json", b"9" * 10_000)], {}, "JSON"),
    ],
)
def test_hostile_zip_raises_value_error_naming_the_entry(tmp_path, entries, kwargs, message):
    path = tmp_path / "hostile.fdl"
    _write_zip(path, entries, **kwargs)
    with pytest.raises(ValueError, match=message) as info:
        load(path)
    assert "hostile.fdl" in str(info.value)


def _nested(depth):
    root = {"type": "none"}
    for _ in range(depth):
        root = {"type": "list", "items": [root]}
    return root


def test_nesting_limit_on_save_and_load(tmp_path):
    deep = None
    for _ in range(MAX_DEPTH):
        deep = [deep]
    save(deep, tmp_path / "ok.fdl")
    assert load(tmp_path / "ok.fdl") == deep
    with pytest.raises(ValueError, match="nested"):
        save([deep], tmp_path / "deep.fdl")
    _write_zip(tmp_path / "deep.fdl", [("manifest.json", _manifest(_nested(MAX_DEPTH + 1)))])
    with pytest.raises(ValueError, match="nested"):
        load(tmp_path / "deep.fdl")


def test_manifest_size_is_capped(tmp_path):
    pad = " " * (MAX_MANIFEST_BYTES + 1)
    _write_zip(
        tmp_path / "big.fdl", [("manifest.json", _manifest({"type": "none"}) + pad.encode())]
    )
    with pytest.raises(ValueError, match="manifest.json"):
        load(tmp_path / "big.fdl")
    with pytest.raises(ValueError, match="manifest"):
        save("x" * MAX_MANIFEST_BYTES, tmp_path / "big.fdl")


def test_entry_past_end_of_file_refused(tmp_path):
    path = tmp_path / "ckpt.fdl"
    save({"w": np.arange(100.0)}, path)
    data = bytearray(path.read_bytes())
    # Enlarge the array entry's sizes in the central directory (and its zip64 extra).
    cd = data.rfind(b"PK\x01\x02")
    assert cd > 0
    data[cd + 20 : cd + 28] = (1 << 30).to_bytes(4, "little") * 2
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="ckpt.fdl"):
        load(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "ckpt.fdl"
    os.mkfifo(fifo)
    errors = []

    def run():
        try:
            load(fifo)
        except ValueError as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():  # unblock the reader so the test process can exit
        with open(fifo, "wb"):
            pass
        pytest.fail("load blocked on a FIFO")
    assert errors and "regular file" in str(errors[0])


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_device_is_refused():
    with pytest.raises(ValueError, match="regular file"):
        load("/dev/zero")


def test_directory_is_refused(tmp_path):
    with pytest.raises((ValueError, IsADirectoryError)):
        load(tmp_path)


def test_fortran_and_structured_arrays_round_trip(tmp_path):
    state = {
        "f": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "rec": np.array([(1, 2.5)], dtype=[("a", "<i4"), ("b", "<f8")]),
        "empty": np.zeros((0, 3), np.float32),
    }
    save(state, tmp_path / "c.fdl")
    back = load(tmp_path / "c.fdl")
    for key, value in state.items():
        assert back[key].dtype == value.dtype
        np.testing.assert_array_equal(back[key], value)


# --- bounded memory ---------------------------------------------------------------

_RSS_CHILD = textwrap.dedent(
    """
    import resource, sys
    from fastdl.serialization import load
    for path in sys.argv[1:]:
        try:
            load(path)
        except ValueError:
            pass
        else:
            raise SystemExit(f"{path} loaded")
    try:  # VmHWM: this process's own peak (ru_maxrss starts at the parent's at fork)
        with open("/proc/self/status") as status:
            print([line.split()[1] for line in status if line.startswith("VmHWM")][0])
    except OSError:
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
)


def _deflate_bomb(path, megabytes):
    zero = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("manifest.json", _manifest(ARRAY))
        info = zipfile.ZipInfo("arrays/0.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as entry:
            entry.write(_npy_header((megabytes << 17,)))
            for _ in range(megabytes):
                entry.write(zero)


def test_hostile_checkpoints_keep_peak_rss_under_200_mib(tmp_path):
    bomb = tmp_path / "bomb.fdl"
    _deflate_bomb(bomb, 300)
    huge = tmp_path / "huge.fdl"
    _write_zip(
        huge, [("manifest.json", _manifest(ARRAY)), ("arrays/0.npy", _npy_header((1 << 40,)))]
    )
    shape = {**ARRAY, "shape": [1 << 40], "dtype": "<f8"}
    declared = tmp_path / "declared.fdl"
    _write_zip(declared, [("manifest.json", _manifest(shape)), ("arrays/0.npy", _npy(np.ones(2)))])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, str(bomb), str(huge), str(declared)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    peak_mib = int(out.stdout.split()[-1]) / 1024  # KiB on Linux
    assert peak_mib < 200, f"peak RSS {peak_mib:.0f} MiB"


# --- temp files ---------------------------------------------------------------------


def test_next_save_removes_abandoned_temp_files(tmp_path):
    path = tmp_path / "checkpoint.fdl"
    stale = [tmp_path / f".checkpoint.fdl.{i:016x}.tmp" for i in range(3)]
    for s in stale:
        s.write_bytes(b"half a checkpoint")
        os.utime(s, (1_000_000, 1_000_000))
    others = [tmp_path / ".other.fdl.0123456789abcdef.tmp", tmp_path / ".checkpoint.fdl.x.tmp"]
    for o in others:
        o.write_bytes(b"not ours")
        os.utime(o, (1_000_000, 1_000_000))
    save({"w": np.ones(2)}, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["checkpoint.fdl"] + [o.name for o in others]
    )


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_temp_file_of_a_live_writer_is_kept(tmp_path):
    import fcntl

    live = tmp_path / ".checkpoint.fdl.00000000000000aa.tmp"
    live.write_bytes(b"being written")
    os.utime(live, (1_000_000, 1_000_000))
    with open(live, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        save({"w": 1}, tmp_path / "checkpoint.fdl")
        assert live.exists()


def test_killed_writer_leaves_a_temp_file_the_next_save_removes(tmp_path):
    path = tmp_path / "checkpoint.fdl"
    child = textwrap.dedent(
        f"""
        import os, numpy as np
        from fastdl import serialization
        def die(*args, **kwargs):
            os._exit(9)
        np.lib.format.write_array = die
        serialization.save({{"w": np.ones(3)}}, {str(path)!r})
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", child], env=env, timeout=60, check=False)
    leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1
    os.utime(leftovers[0], (1_000_000, 1_000_000))
    save({"w": np.ones(3)}, path)
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.fdl"]


# --- fuzzing ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("good") / "ckpt.fdl"
    save(
        {
            "w": np.arange(12, dtype=np.float32).reshape(3, 4),
            "opt": {"state": {0: {"step": 3, "exp_avg": np.ones(4)}}, "lr": 0.1},
            "names": ["a", ("b", None, True)],
        },
        path,
    )
    return path.read_bytes()


def _load_bytes(tmp_path, data: bytes):
    path = tmp_path / "fuzz.fdl"
    path.write_bytes(data)
    return load(path)


@FUZZ
@given(cut=st.integers(min_value=0))
def test_fuzz_truncation_raises_value_error(tmp_path, good_checkpoint, cut):
    data = good_checkpoint[: cut % len(good_checkpoint)]
    with pytest.raises(ValueError):
        _load_bytes(tmp_path, data)


@FUZZ
@given(
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)), min_size=1, max_size=4)
)
def test_fuzz_bit_flips_load_exactly_or_raise_value_error(tmp_path, good_checkpoint, flips):
    data = bytearray(good_checkpoint)
    for where, mask in flips:
        data[where % len(data)] ^= mask
    try:
        back = _load_bytes(tmp_path, bytes(data))
    except ValueError:
        return
    # A flip the CRC cannot see (zip metadata) must still give the saved numbers.
    np.testing.assert_array_equal(back["w"], np.arange(12, dtype=np.float32).reshape(3, 4))


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
_json = st.recursive(
    _json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_node = st.recursive(
    st.one_of(
        st.fixed_dictionaries(
            {
                "type": st.sampled_from(["int", "float", "bool", "str", "none", "mystery"]),
                "value": _json_leaf,
            }
        ),
        st.fixed_dictionaries(
            {
                "type": st.sampled_from(["ndarray", "tensor", "numpy_scalar"]),
                "entry": st.sampled_from(["arrays/0.npy", "arrays/1.npy", "nope"]),
            },
            optional={
                "shape": st.one_of(_json, st.lists(st.integers(-2, 1 << 62), max_size=3)),
                "dtype": st.sampled_from(["<f8", "<f4", "|u1", "bogus", 3]),
                "requires_grad": _json,
            },
        ),
        _json,
    ),
    lambda inner: st.one_of(
        st.fixed_dictionaries(
            {"type": st.sampled_from(["list", "tuple"]), "items": st.lists(inner, max_size=3)}
        ),
        st.fixed_dictionaries(
            {
                "type": st.just("dict"),
                "class": st.sampled_from(["dict", "OrderedDict", "set"]),
                "items": st.lists(
                    st.tuples(st.one_of(st.text(max_size=4), st.integers()), inner).map(list),
                    max_size=3,
                ),
            }
        ),
    ),
    max_leaves=12,
)
_header = st.fixed_dictionaries(
    {
        "descr": st.sampled_from(
            ["<f8", "<f4", "|u1", "|O", "<U3", "V0", "bogus", "[('a','<i4')]"]
        ),
        "fortran_order": st.one_of(st.booleans(), st.integers()),
        "shape": st.one_of(
            st.lists(st.integers(-3, 1 << 62), max_size=4).map(tuple), st.integers(), st.text()
        ),
    }
)


def _raw_header(header: dict) -> bytes:
    text = repr(header).encode("latin1", "replace")
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text


@FUZZ
@given(root=_node, header=_header, payload=st.binary(max_size=64))
def test_fuzz_crafted_manifests_and_headers_raise_only_value_error(tmp_path, root, header, payload):
    path = tmp_path / "crafted.fdl"
    _write_zip(
        path,
        [
            ("manifest.json", _manifest(root)),
            ("arrays/0.npy", _raw_header(header) + payload),
            ("arrays/1.npy", _npy(np.arange(3.0))),
        ],
    )
    try:
        load(path)
    except ValueError:
        pass
