"""`report_to: tensorboard`: the run's metrics reach real TensorBoard event files through accelerate's tracker."""

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
