"""tunesmith.models.run_dir: the run dir `tunesmith train` writes is recognised and loads; adapter, full-model, merged
and plain model dirs are told apart; runs written by earlier versions still load; a missing or corrupt tunesmith.json
is refused naming the file, by the library, the exporter and the CLI alike."""

from __future__ import annotations

import json
import shutil
from importlib.metadata import version

import pytest
import torch
from train_helpers import make_cfg, write_dataset
from typer.testing import CliRunner

from tunesmith.models import run_dir as rd

PROMPT = "error: module numpy not found"


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    """A LoRA run and a full fine-tune, written by the training loop itself."""
    from tunesmith.train.loop import main

    base = tmp_path_factory.mktemp("run_dir")
    data = write_dataset(base / "train.jsonl", 16)
    lora = main(make_cfg(tiny_model_dir, data, base / "lora", max_steps=2, save_every=1, eval_every=0,
                         eval_fraction=0.0, system_prompt="Answer briefly."))
    full = main(make_cfg(tiny_model_dir, data, base / "full", method="full", max_steps=1, eval_every=0,
                         eval_fraction=0.0))
    return {"lora": lora, "full": full}


def _logits(model, tokenizer):
    ids = tokenizer(PROMPT, add_special_tokens=False, return_tensors="pt").input_ids
    with torch.no_grad():
        return model(ids).logits[0]


def test_a_trained_run_has_the_documented_layout_and_is_recognised(trained, tiny_model_dir):
    run = trained["lora"]
    for name in (rd.CONFIG, rd.METRICS, rd.RUN_LOG, rd.SUMMARY, rd.LOSS_PLOT):
        assert (run / name).is_file(), name
    # the final step is model/, not a checkpoint: step 1 is the one kept
    assert rd.checkpoint_dir(run, 1) == run / "checkpoints" / "step-000001"
    assert rd.read_meta(rd.checkpoint_dir(run, 1) / "model")["method"] == "lora"
    assert rd.is_run_dir(run) and not rd.is_run_dir(run / "model")
    assert rd.find_model_dir(run) == run / "model" and rd.find_model_dir(run / "model") == run / "model"

    opened = rd.open_run(run)
    assert opened.root == run and opened.model_dir == run / "model" and opened.is_adapter
    assert opened.kind == rd.ADAPTER and opened.step == 2 and opened.system_prompt == "Answer briefly."
    assert opened.base_dir() == tiny_model_dir
    meta = opened.meta
    assert (meta["base_model"], meta["base_model_path"], meta["method"], meta["max_seq_len"]) == \
        (str(tiny_model_dir), str(tiny_model_dir), "lora", 64)
    # the provenance keys runs have always carried, with the versions installed here
    assert meta["torch"] == torch.__version__ and meta["peft"] == version("peft")
    assert {"tunesmith", "transformers", "git_revision"} <= meta.keys()


def test_meta_round_trips_and_is_what_every_reader_sees(trained, tmp_path):
    import tunesmith

    run = trained["lora"]
    meta = rd.read_meta(run / "model")
    assert rd.run_meta(run) == rd.run_meta(run / "model") == meta
    gen = tunesmith.load(run)
    assert gen.meta == meta

    rd.write_meta(tmp_path, {**meta, "nested": {"a": [1, 2]}, "path": tmp_path})
    back = rd.read_meta(tmp_path)
    assert back == {**meta, "nested": {"a": [1, 2]}, "path": str(tmp_path)}  # a Path is written as its string


def test_adapter_full_merged_and_plain_dirs_are_told_apart(trained, tiny_model_dir, tmp_path):
    from tunesmith.export import export

    export(trained["lora"], "merged", tmp_path / "merged")
    export(trained["lora"], "adapter", tmp_path / "adapter")
    assert rd.dir_kind(trained["lora"]) == rd.ADAPTER
    assert rd.dir_kind(tmp_path / "adapter") == rd.ADAPTER
    assert rd.dir_kind(trained["full"]) == rd.FULL
    assert rd.dir_kind(tmp_path / "merged") == rd.MERGED
    assert rd.dir_kind(tiny_model_dir) == rd.PLAIN
    assert rd.dir_kind(tmp_path / "nothing-here") is None and rd.dir_kind("smollm2-135m") is None
    # a plain model dir has no run meta: it is loaded as a base model spec
    assert rd.find_model_dir(tiny_model_dir) is None and rd.run_meta(tiny_model_dir) == {}
    assert not rd.open_run(tmp_path / "merged").is_adapter


def test_an_adapter_run_and_its_merged_export_load_to_the_same_model(trained, tmp_path):
    from tunesmith.export import export

    run = rd.open_run(trained["lora"])
    unmerged, tok = rd.load_run_model(run, merge=False)
    merged, _ = rd.load_run_model(run)
    assert hasattr(unmerged, "peft_config") and not hasattr(merged, "peft_config")
    export(trained["lora"], "merged", tmp_path / "merged")
    exported, tok2 = rd.load_run_model(rd.open_run(tmp_path / "merged"))
    ref = _logits(unmerged, tok)
    assert torch.allclose(_logits(merged, tok), ref, atol=1e-5)
    assert torch.allclose(_logits(exported, tok2), ref, atol=1e-5)


def test_a_run_written_by_an_earlier_version_still_loads(trained, tmp_path, tiny_model_dir):
    """Meta as the bundled adapter has it: no step, no trailing newline, an empty base_model_path, so the base model is
    found again from its spec."""
    import tunesmith

    run = tmp_path / "old"
    shutil.copytree(trained["lora"], run)
    meta = rd.read_meta(run / "model")
    for key in ("step", "inputs", "planned_steps", "processes", "precision", "chat_template_fallback"):
        meta.pop(key, None)
    meta["base_model_path"] = ""
    (run / "model" / "tunesmith.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    opened = rd.open_run(run)
    assert opened.step is None and opened.base_dir() == tiny_model_dir
    gen = tunesmith.load(run)
    assert gen.meta == meta and gen.meta["system_prompt"] == "Answer briefly."

    from tunesmith.logs.analyze import BUNDLED_ADAPTER  # the shipped analyzer: a run dir from an earlier version

    bundled = rd.open_run(BUNDLED_ADAPTER)
    assert bundled.model_dir == BUNDLED_ADAPTER and bundled.is_adapter and bundled.meta["base_model"] == "smollm2-135m"


def test_a_recorded_base_path_that_is_gone_falls_back_to_the_spec_and_then_is_named(trained, tmp_path, tiny_model_dir):
    run = tmp_path / "moved"
    shutil.copytree(trained["lora"], run)
    meta = rd.read_meta(run / "model")
    rd.write_meta(run / "model", {**meta, "base_model_path": str(tmp_path / "gone")})
    assert rd.open_run(run).base_dir() == tiny_model_dir
    rd.write_meta(run / "model", {**meta, "base_model_path": "", "base_model": None})
    with pytest.raises(rd.RunDirError, match=r"tunesmith\.json: no base_model_path or base_model"):
        rd.open_run(run).base_dir()


@pytest.mark.parametrize("content, words", [
    (None, "not found"),
    ("{oops", ":1: not valid JSON"),
    ("[1, 2]", ":1: expected a JSON object"),
])
def test_a_missing_or_corrupt_meta_is_refused_naming_the_file(trained, tmp_path, content, words):
    from tunesmith.cli import app
    from tunesmith.export import ExportError, open_run

    run = tmp_path / "broken"
    shutil.copytree(trained["lora"], run)
    meta = run / "model" / "tunesmith.json"
    if content is None:
        meta.unlink()
    else:
        meta.write_text(content)
    with pytest.raises(rd.RunDirError) as e:
        rd.open_run(run)
    assert str(meta) in str(e.value) and words in str(e.value)
    with pytest.raises(ExportError, match=words):
        open_run(run)
    if content is not None:  # a run dir with a corrupt meta is never mistaken for a base model
        r = CliRunner().invoke(app, ["generate", "--run", str(run), "hi"])
        said = " ".join(r.output.split())
        assert r.exit_code == 1 and "Traceback" not in said and "tunesmith.json" in said and words in said, said


def test_a_model_dir_without_weights_or_tokenizer_is_named(trained, tmp_path):
    run = tmp_path / "partial"
    shutil.copytree(trained["full"], run)
    (run / "model" / "tokenizer_config.json").unlink()
    with pytest.raises(rd.RunDirError, match="no tokenizer files"):
        rd.open_run(run)
    (run / "model" / "config.json").unlink()
    with pytest.raises(rd.RunDirError, match="neither a PEFT adapter"):
        rd.open_run(run)
    with pytest.raises(rd.RunDirError, match="run dir not found"):
        rd.open_run(tmp_path / "absent")


def test_stop_tokens_for_generation_and_for_an_exported_model(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    im_end, endoftext = tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")
    assert rd.end_of_turn_ids(tok) == [im_end]
    assert rd.stop_token_ids(tok) == [im_end]  # <|endoftext|> is this vocabulary's unknown token: never a stop
    tok.eos_token = "<|im_start|>"  # an EOS apart from the end-of-turn token: generation stops at both
    im_start = tok.convert_tokens_to_ids("<|im_start|>")
    assert rd.end_of_turn_ids(tok) == [im_end, im_start]  # the template's own end first, as generation_config wants
    assert rd.stop_token_ids(tok) == sorted({im_end, im_start})
    assert endoftext not in rd.stop_token_ids(tok)


def test_provenance_has_the_keys_runs_always_carried():
    prov = rd.provenance()
    assert list(prov) == ["tunesmith", "torch", "transformers", "peft", "git_revision"]
    assert prov["transformers"] == __import__("transformers").__version__
    versions = rd.library_versions(rd.EXPORT_LIBRARIES)
    assert versions["safetensors"] == version("safetensors") and versions["tokenizers"] == version("tokenizers")
