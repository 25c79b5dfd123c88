"""`report_to: tensorboard | mlflow | wandb`: the run's metrics reach real TensorBoard event files, a local MLflow store
and a W&B offline run through accelerate's trackers."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from train_helpers import make_cfg, write_dataset

from tunesmith.train.loop import TrainingError, main


def read_scalars(path: Path) -> dict[str, dict[int, float]]:
    """{tag: {step: value}} from a TensorBoard event file (TFRecord framing: length, crc, payload, crc)."""
    from tensorboardX.proto import event_pb2

    out: dict[str, dict[int, float]] = {}
    data = path.read_bytes()
    pos = 0
    while pos < len(data):
        (length,) = struct.unpack("<Q", data[pos : pos + 8])
        event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + length])
        pos += 12 + length + 4
        for v in event.summary.value:
            if v.HasField("simple_value"):
                out.setdefault(v.tag, {})[event.step] = v.simple_value
    return out


def test_report_to_tensorboard_writes_every_logged_metric(tiny_model_dir, tmp_path):
    data = write_dataset(tmp_path / "train.jsonl", n=30)
    run = main(make_cfg(tiny_model_dir, data, tmp_path / "run", max_steps=4, eval_every=2, report_to="tensorboard"))
    metrics = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    scalars: dict[str, dict[int, float]] = {}
    for f in (run / "tracking").rglob("events.out.tfevents.*"):
        for tag, points in read_scalars(f).items():
            scalars.setdefault(tag, {}).update(points)
    for key in ("loss", "lr", "eval_loss"):
        want = {r["step"]: r[key] for r in metrics if key in r}
        assert want, key
        assert scalars[key] == pytest.approx(want, rel=1e-6), key  # float32 in the event file
    assert sorted(scalars["eval_loss"]) == [2, 4]


def test_report_to_a_tracker_that_is_not_installed_is_refused_before_training(tiny_model_dir, tmp_path, monkeypatch):
    import accelerate.tracking

    monkeypatch.setattr(accelerate.tracking, "get_available_trackers", lambda: [])
    data = write_dataset(tmp_path / "train.jsonl", n=30)
    with pytest.raises(TrainingError, match=r"report_to: tensorboard needs tensorboardX"):
        main(make_cfg(tiny_model_dir, data, tmp_path / "run", report_to="tensorboard"))
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_report_to_mlflow_without_a_server_writes_a_store_in_the_run(tiny_model_dir, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    monkeypatch.chdir(tmp_path)  # a store written to the working directory instead would be found below, not in the run
    data = write_dataset(tmp_path / "train.jsonl", n=30)
    run = main(make_cfg(tiny_model_dir, data, tmp_path / "run", max_steps=4, eval_every=2, report_to="mlflow"))
    metrics = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    client = MlflowClient(tracking_uri=(run / "tracking" / "mlruns").resolve().as_uri())
    (experiment,) = [e for e in client.search_experiments() if e.name == run.name]
    (tracked,) = client.search_runs([experiment.experiment_id])
    assert tracked.info.status == "FINISHED"
    assert tracked.data.params["lr"] == str(make_cfg(tiny_model_dir, data, tmp_path / "x").lr)
    for key in ("loss", "lr", "eval_loss"):
        want = {r["step"]: r[key] for r in metrics if key in r}
        assert want, key
        got = {m.step: m.value for m in client.get_metric_history(tracked.info.run_id, key)}
        assert got == pytest.approx(want, rel=1e-9), key
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "mlflow.db").exists()


def read_wandb_history(run_file: Path, wait_s: float = 60.0) -> dict[str, dict[int, float]]:
    """{key: {step: value}} from a W&B offline run file (`run-*.wandb`: the records `wandb sync` would upload).

    W&B's service process writes the file; `finish()` can return before it has written the last records (seen as a
    file without its history now and then). The run is complete when its `exit` record is there: wait for it."""
    import time

    from wandb.proto import wandb_internal_pb2
    from wandb.sdk.internal import datastore

    deadline = time.monotonic() + wait_s
    while True:
        records = []
        store = datastore.DataStore()
        store.open_for_scan(str(run_file))
        while (data := store.scan_data()) is not None:
            record = wandb_internal_pb2.Record()
            record.ParseFromString(data)
            records.append(record)
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    out: dict[str, dict[int, float]] = {}
    for record in records:
        if record.WhichOneof("record_type") != "history":
            continue
        row = {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
        for key, value in row.items():
            if key not in ("_step", "_runtime", "_timestamp"):
                out.setdefault(key, {})[row["_step"]] = value
    return out


def test_report_to_wandb_offline_writes_every_logged_metric(tiny_model_dir, tmp_path, monkeypatch):
    for name, value in {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_SILENT": "true",
                        "WANDB_DISABLE_GIT": "true", "WANDB_CONSOLE": "off", "WANDB_CONFIG_DIR": str(tmp_path / "cfg"),
                        "WANDB_CACHE_DIR": str(tmp_path / "cache"), "WANDB_DATA_DIR": str(tmp_path / "data")}.items():
        monkeypatch.setenv(name, value)  # offline: nothing leaves the machine; the run is kept under WANDB_DIR
    data = write_dataset(tmp_path / "train.jsonl", n=30)
    run = main(make_cfg(tiny_model_dir, data, tmp_path / "run", max_steps=4, eval_every=2, report_to="wandb"))
    metrics = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    (run_file,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    history = read_wandb_history(run_file)
    for key in ("loss", "lr", "eval_loss"):
        want = {r["step"]: r[key] for r in metrics if key in r}
        assert want, key
        assert history[key] == pytest.approx(want, rel=1e-9), key
    assert sorted(history["eval_loss"]) == [2, 4]
