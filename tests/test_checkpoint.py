import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import codings
from codings import build, fit, load, save
from codings.checkpoint import CheckpointError, read_metadata
from codings.layers import TiedLinear


@pytest.fixture
def trained():
    X = np.random.default_rng(0).random((128, 12), dtype=np.float32)
    m = build("stacked", n_features=12, hidden=(6, 3), tied=True, l2=1e-3, seed=0)
    fit(m, X, epochs=2, batch_size=32)
    return m, X


def test_reload_gives_bit_identical_codings(tmp_path, trained):
    m, X = trained
    path = save(m, tmp_path / "m.safetensors", metadata={"note": "hi"})
    r = load(path)
    x = torch.from_numpy(X)
    assert torch.equal(m.encode(x), r.encode(x))
    assert torch.equal(m(x), r(x))
    assert r.metadata["note"] == "hi"
    assert r.metadata["model"] == "stacked" and r.metadata["kwargs"]["tied"] is True
    assert r.metadata["codings_version"] == codings.__version__


def test_tied_weights_stay_shared_after_reload(tmp_path, trained):
    m, _ = trained
    r = load(save(m, tmp_path / "m.safetensors"))
    dec = [b[0] for b in r.decoder]
    assert all(isinstance(t, TiedLinear) for t in dec)
    assert dec[-1].source is r.encoder[0][0]
    assert len(list(r.parameters())) == len(list(m.parameters()))
    with torch.no_grad():
        r.encoder[0][0].weight.add_(1.0)
    assert torch.equal(dec[-1].weight, r.encoder[0][0].weight.t())


def test_the_file_is_data_not_code(tmp_path, trained):
    m, _ = trained
    path = save(m, tmp_path / "m.safetensors")
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    meta = json.loads(header["__metadata__"]["codings"])
    assert meta["format"] == "codings" and meta["format_version"] == 1
    assert b"pickle" not in raw and b"\x80\x04" not in raw[: 8 + n]


def test_a_part_is_saved_under_its_prefix_and_covered_by_the_checksum(tmp_path, trained):
    from safetensors.torch import load_file

    from codings.checkpoint import load_part

    m, X = trained
    other = build("linear", n_features=12, latent_dim=2, seed=1)
    path = save(m, tmp_path / "m.safetensors", metadata={"ae": other.config}, parts={"ae/": other})
    x = torch.from_numpy(X)
    assert torch.equal(load(path).encode(x), m.encode(x))  # the main model ignores the part
    part = load_part(path, read_metadata(path)["ae"], "ae/")
    assert torch.equal(part.encode(x), other.encode(x))
    tensors = load_file(path)
    assert {k for k in tensors if k.startswith("ae/")} == {f"ae/{k}" for k in other.state_dict()}
    with pytest.raises(ValueError, match="prefix ends in '/'"):
        save(m, tmp_path / "bad.safetensors", parts={"ae": other})
    # A changed weight of the part is found, as one of the main model's is.
    key = next(k for k in tensors if k.startswith("ae/"))
    tensors[key] = tensors[key] + 1
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])["__metadata__"]
    save_file(tensors, path, metadata=header)
    with pytest.raises(CheckpointError, match="checksum"):
        load(path)


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path, trained):
    m, _ = trained
    path = tmp_path / "m.safetensors"
    save(m, path)
    first = path.read_bytes()
    save(m, path)
    assert path.read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_truncated_file_is_refused(tmp_path, trained):
    m, _ = trained
    path = save(m, tmp_path / "m.safetensors")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load(path)


def test_corrupted_header_is_refused(tmp_path, trained):
    m, _ = trained
    path = save(m, tmp_path / "m.safetensors")
    raw = bytearray(path.read_bytes())
    raw[10:20] = b"@@@@@@@@@@"
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load(path)


def test_foreign_safetensors_file_is_refused(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2, 2)}, str(path))
    with pytest.raises(CheckpointError, match="without codings metadata"):
        load(path)
    (tmp_path / "text.safetensors").write_text("hello, this is not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load(tmp_path / "text.safetensors")


def test_shapes_that_do_not_match_the_config_are_refused(tmp_path, trained):
    m, _ = trained
    path = save(m, tmp_path / "m.safetensors")
    tensors = {k: v.clone() for k, v in m.state_dict().items()}
    tensors["encoder.0.0.weight"] = torch.zeros(7, 12)
    header = read_metadata(path)
    save_file(tensors, str(path), metadata={"codings": json.dumps(header)})
    with pytest.raises(CheckpointError, match=r"has shape \(7, 12\)"):
        load(path)


def test_missing_file_and_unbuilt_model(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load(tmp_path / "nope.safetensors")
    with pytest.raises(ValueError, match="not made by codings.build"):
        save(torch.nn.Linear(2, 2), tmp_path / "x.safetensors")


def test_newer_format_is_refused(tmp_path, trained):
    m, _ = trained
    path = save(m, tmp_path / "m.safetensors")
    header = read_metadata(path)
    header["format_version"] = 99
    save_file(
        {k: v.contiguous() for k, v in m.state_dict().items()},
        str(path),
        metadata={"codings": json.dumps(header)},
    )
    with pytest.raises(CheckpointError, match="upgrade codings"):
        load(path)


def test_remove_stale_temps_of_one_file_deletes_only_what_atomic_write_leaves(tmp_path):
    from codings.checkpoint import remove_stale_temps

    ours = [".state.safetensors.k2j_x9a1.tmp", ".state.safetensors.abcdefgh.tmp"]
    theirs = ["notes.tmp", ".state.safetensors.tmp", ".other.safetensors.abcdefgh.tmp", "keep"]
    for name in ours + theirs:
        (tmp_path / name).write_text("x")
    remove_stale_temps(tmp_path, name="state.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(theirs)


def _train_state(tmp_path):
    from codings.train import _objectives, make_optimizer

    X = np.random.default_rng(0).random((64, 6), dtype=np.float32)
    ck = tmp_path / "state.safetensors"
    fit(build("stacked", n_features=6, hidden=(3,), seed=0), X, epochs=1, checkpoint=ck)
    fresh = build("stacked", n_features=6, hidden=(3,), seed=1)
    opts = {k: make_optimizer("adam", v, 0.1) for k, v in _objectives(fresh).items()}
    return ck, fresh, opts


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda s, t: s.update(epoch="1"), "has epoch '1'"),
        (lambda s, t: s.pop("history"), "no list of epochs"),
        (lambda s, t: s.update(optimizers=[]), "no optimiser settings"),
        (lambda s, t: s["optimizers"]["loss"]["scalars"].update({"x/y/z": 1}), "entry 'x/y/z'"),
        (lambda s, t: t.pop("rng/perm"), "no random-number state 'rng/perm'"),
        (lambda s, t: s["optimizers"]["loss"].update(param_groups=[]), "does not fit the model"),
    ],
)
def test_a_malformed_training_state_is_refused_by_name(tmp_path, change, words):
    from safetensors.torch import load_file

    from codings.checkpoint import load_train_state

    ck, fresh, opts = _train_state(tmp_path)
    assert load_train_state(ck, fresh, opts)["epoch"] == 1
    header, tensors = read_metadata(ck), load_file(str(ck))
    change(header["train_state"], tensors)
    save_file(tensors, str(ck), metadata={"codings": json.dumps(header)})
    with pytest.raises(CheckpointError) as e:
        load_train_state(ck, fresh, opts)
    assert str(ck) in str(e.value) and words in str(e.value)
