"""Loading checks what it loaded: a checkpoint or adapter with a missing, unexpected or reshaped key is refused with
the keys named, on resume (adapter and full weights) and when a run's model is loaded for generation."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.train_helpers import make_cfg, write_dataset
from tunesmith.models.weights import WeightsMismatch
from tunesmith.train import checkpoint as ck
from tunesmith.train.loop import TrainingError, main


@pytest.fixture(scope="module", params=["lora", "full"])
def template(request, tiny_model_dir, tmp_path_factory):
    """A run with a checkpoint at step 2 of 4 and its finished model/, per method."""
    root = tmp_path_factory.mktemp(f"load_{request.param}")
    data = write_dataset(root / "train.jsonl")
    main(make_cfg(tiny_model_dir, data, root / "run", method=request.param, max_steps=4, save_every=2, eval_every=0))
    return root, request.param


@pytest.fixture()
def run_copy(template, tmp_path):
    root, method = template
    shutil.copytree(root, tmp_path / "t")
    return tmp_path / "t" / "train.jsonl", tmp_path / "t" / "run", method


def weights_file(mdir):
    return mdir / ("adapter_model.safetensors" if (mdir / "adapter_config.json").exists() else "model.safetensors")


def edit_weights(mdir, change):
    path = weights_file(mdir)
    tensors = load_file(path)
    change(tensors)
    save_file(tensors, path, metadata={"format": "pt"})


def drop_one(tensors):
    del tensors[sorted(tensors)[0]]


def add_one(tensors):
    tensors["base_model.model.surprise.weight"] = torch.zeros(2)


def reshape_one(tensors):
    k = sorted(tensors)[-1]
    tensors[k] = torch.zeros(tensors[k].shape[0] + 1, *tensors[k].shape[1:])


def resume(tiny_model_dir, data, run, method):
    return main(make_cfg(tiny_model_dir, data, run, method=method, max_steps=4, save_every=2, eval_every=0), resume=True)


@pytest.mark.parametrize("change, words", [(drop_one, "missing key"), (add_one, "unexpected key"),
                                           (reshape_one, "another shape")])
def test_resume_refuses_a_checkpoint_that_does_not_fit(tiny_model_dir, run_copy, change, words):
    data, run, method = run_copy
    mdir = ck.latest_checkpoint(run) / ck.MODEL
    name = sorted(load_file(weights_file(mdir)))[0 if change is drop_one else -1]
    edit_weights(mdir, change)
    with pytest.raises(TrainingError) as e:
        resume(tiny_model_dir, data, run, method)
    msg = str(e.value)
    assert words in msg and str(mdir) in msg
    assert (name if change is not add_one else "surprise.weight") in msg


def test_resume_of_an_intact_checkpoint_loads(tiny_model_dir, run_copy):
    data, run, method = run_copy
    resume(tiny_model_dir, data, run, method)  # no mismatch: nothing raised


@pytest.mark.parametrize("change, words", [(drop_one, "missing key"), (add_one, "unexpected key")])
def test_loading_a_run_for_generation_refuses_a_mismatch(run_copy, change, words):
    import tunesmith

    _, run, _ = run_copy
    tunesmith.load(run)  # intact: loads
    edit_weights(run / ck.MODEL, change)
    with pytest.raises(WeightsMismatch, match=words):
        tunesmith.load(run)
