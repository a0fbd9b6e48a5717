"""Weights in and out: state_dict values as Tensors, load_state_dict from any array
kind with PyTorch's errors, save/load through file objects, safetensors both ways
(against torch when it is installed)."""

import io

import numpy as np
import pytest
from _tolerance import assert_close

import fastdl
from fastdl import nn


def _model():
    fastdl.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))


def _host(state):
    return {k: np.array(v.detach().cpu().numpy(), copy=True) for k, v in state.items()}


def _same_state(a, b):
    assert list(a) == list(b)
    for name in a:
        np.testing.assert_array_equal(np.asarray(a[name]), np.asarray(b[name]), err_msg=name)


# -- state_dict and load_state_dict ------------------------------------------------------


def test_state_dict_values_are_detached_tensors_sharing_storage():
    model = _model()
    state = model.state_dict()
    for name, param in model.named_parameters():
        value = state[name]
        assert isinstance(value, fastdl.Tensor) and not value.requires_grad
        assert value.shape == param.shape and value.dtype == param.dtype
        assert np.shares_memory(value.numpy(), param.detach().numpy())
    bn = nn.BatchNorm1d(3)
    assert bn.state_dict()["num_batches_tracked"].shape == ()


def test_load_state_dict_reports_pytorchs_message_and_changes_nothing():
    model = _model()
    before = _host(model.state_dict())
    bad = dict(_host(model.state_dict()))
    del bad["2.bias"]
    bad["0.bias"] = np.zeros(7, np.float32)
    bad["extra"] = np.zeros(1, np.float32)
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(bad)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert message.startswith("Error(s) in loading state_dict for Sequential:")
    assert 'Missing key(s) in state_dict: "2.bias".' in message
    assert 'Unexpected key(s) in state_dict: "extra".' in message
    assert "size mismatch for 0.bias: copying a param with shape (7,) from checkpoint" in message
    _same_state(_host(model.state_dict()), before)
    bad["0.bias"] = before["0.bias"] + 1
    result = model.load_state_dict(bad, strict=False)
    assert result.missing_keys == ["2.bias"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(model[0].bias.detach().numpy(), before["0.bias"] + 1)


class _DLPackOnly:
    """An object readable only through DLPack (no ``__array__``)."""

    def __init__(self, array):
        self._array = array

    def __dlpack__(self, **kwargs):
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


def test_load_state_dict_takes_tensors_arrays_and_dlpack_objects():
    source, target = _model(), nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    values = _host(source.state_dict())
    given = {
        "0.weight": fastdl.tensor(values["0.weight"]),
        "0.bias": values["0.bias"].astype(np.float64),  # cast into float32
        "2.weight": _DLPackOnly(values["2.weight"]),
        "2.bias": values["2.bias"].tolist(),
    }
    target.load_state_dict(given)
    _same_state(_host(target.state_dict()), values)


# -- save and load with file objects -------------------------------------------------------


def test_save_and_load_through_file_objects(tmp_path):
    model = _model()
    state = {"model": model.state_dict(), "step": 3}
    buffer = io.BytesIO()
    fastdl.save(state, buffer)
    buffer.seek(0)
    back = fastdl.load(buffer)
    assert back["step"] == 3
    assert all(isinstance(v, fastdl.Tensor) for v in back["model"].values())
    _same_state(_host(back["model"]), _host(model.state_dict()))
    path = tmp_path / "ckpt.fdl"
    with open(path, "wb") as f:
        fastdl.save(state, f)
    with open(path, "rb") as f:
        _same_state(_host(fastdl.load(f)["model"]), _host(model.state_dict()))
    assert fastdl.load(path)["step"] == 3


def test_file_objects_get_the_same_hardening(tmp_path):
    buffer = io.BytesIO()
    fastdl.save({"w": np.ones(4)}, buffer)
    data = buffer.getvalue()
    with pytest.raises(ValueError, match="not a fastdl checkpoint"):
        fastdl.load(io.BytesIO(data[: len(data) // 2]))
    flipped = bytearray(data)
    flipped[data.index(b"\x93NUMPY") + 80] ^= 0xFF  # a byte of the array data
    with pytest.raises(ValueError):
        fastdl.load(io.BytesIO(bytes(flipped)))
    path = tmp_path / "ckpt.fdl"
    path.write_bytes(data)
    with open(path) as text, pytest.raises(TypeError, match="binary mode"):
        fastdl.load(text)
    with pytest.raises(ValueError, match="format"):
        fastdl.save({"w": np.ones(1)}, tmp_path / "x", format="pickle")


# -- safetensors ------------------------------------------------------------------------------


def test_safetensors_round_trip_with_metadata_and_file_objects(tmp_path):
    bn = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    state = bn.state_dict()
    path = tmp_path / "m.safetensors"
    fastdl.save_safetensors(state, path, metadata={"epoch": "3"})
    back = fastdl.load_safetensors(path)
    assert set(back) == set(state)
    assert all(isinstance(v, fastdl.Tensor) for v in back.values())
    assert (
        back["1.num_batches_tracked"].shape == ()
        and back["1.num_batches_tracked"].dtype == np.int64
    )
    _same_state({k: back[k] for k in state}, _host(state))
    safetensors = pytest.importorskip("safetensors")
    with safetensors.safe_open(str(path), framework="numpy") as f:
        assert f.metadata() == {"epoch": "3"}
    fastdl.save(state, tmp_path / "s.safetensors", format="safetensors")
    _same_state(
        {k: fastdl.load_safetensors(tmp_path / "s.safetensors")[k] for k in state}, _host(state)
    )
    buffer = io.BytesIO()
    fastdl.save_safetensors(state, buffer)
    buffer.seek(0)
    from_buffer = fastdl.load_safetensors(buffer)
    _same_state({k: from_buffer[k] for k in state}, _host(state))
    bn.load_state_dict(back)


def test_safetensors_refuses_bad_input(tmp_path):
    import safetensors.numpy

    path = tmp_path / "half.safetensors"
    safetensors.numpy.save_file({"w": np.ones(2, np.float16)}, str(path))
    with pytest.raises(TypeError, match="w has dtype float16"):
        fastdl.load_safetensors(path)
    (tmp_path / "junk").write_bytes(b"not a safetensors file at all")
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        fastdl.load_safetensors(tmp_path / "junk")
    with pytest.raises(TypeError, match="key 3"):
        fastdl.save_safetensors({3: np.ones(1)}, tmp_path / "k")
    assert not (tmp_path / "k").exists()


# -- against torch ------------------------------------------------------------------------------


def _torch_model(torch):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))


def _outputs(fastdl_model, torch_model, torch, x):
    ours = fastdl_model(fastdl.tensor(x)).detach().numpy()
    with torch.no_grad():
        theirs = torch_model(torch.from_numpy(x)).numpy()
    return ours, theirs


def test_state_dict_round_trip_torch_fastdl_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    source = _torch_model(torch)
    ours = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    ours.load_state_dict(source.state_dict())  # torch tensors straight in
    a, b = _outputs(ours, source, torch, x)
    assert_close(a, b, np.float32)  # two GEMMs may round differently
    again = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    again.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in ours.state_dict().items()})
    with torch.no_grad():
        np.testing.assert_array_equal(
            again(torch.from_numpy(x)).numpy(), source(torch.from_numpy(x)).numpy()
        )


def test_safetensors_weights_move_both_ways_with_torch(tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    x = np.random.default_rng(1).standard_normal((6, 4)).astype(np.float32)
    source = _torch_model(torch)
    safetensors_torch.save_file(source.state_dict(), str(tmp_path / "torch.safetensors"))
    ours = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    ours.load_state_dict(fastdl.load_safetensors(tmp_path / "torch.safetensors"))
    _same_state(_host(ours.state_dict()), {k: v.numpy() for k, v in source.state_dict().items()})
    a, b = _outputs(ours, source, torch, x)
    assert_close(a, b, np.float32)

    fresh = _model()
    fastdl.save_safetensors(fresh.state_dict(), tmp_path / "ours.safetensors")
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    theirs.load_state_dict(safetensors_torch.load_file(str(tmp_path / "ours.safetensors")))
    _same_state({k: v.numpy() for k, v in theirs.state_dict().items()}, _host(fresh.state_dict()))
    a, b = _outputs(fresh, theirs, torch, x)
    assert_close(a, b, np.float32)
