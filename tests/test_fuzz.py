"""Fuzzing the readers of untrusted input with hypothesis: dataset files (JSONL, CSV, Parquet), the training config
loader, the log distiller and redactor, and the knowledge-base reader.

Each target gets generated inputs (hostile shapes included: bad bytes, torn JSON, deep nesting, wrong types, planted
secrets) and must never raise anything but its own documented error; every line it rejects is reported by number. The
quick suite runs FAST examples per target; the slow one 10,000 per target (derandomized, so a CI failure reproduces).
TUNESMITH_FUZZ_EXAMPLES overrides the slow count.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from secret_corpus import ALL as PLANTED

from tunesmith.data.example import Example, Problem
from tunesmith.data.readers import iter_examples
from tunesmith.data.validate import validate
from tunesmith.logs.categories import BY_ID
from tunesmith.logs.distill import distill
from tunesmith.logs.kb import KnowledgeBase, read_entries
from tunesmith.logs.redact import find_secrets, redact, redact_lines
from tunesmith.train.config import ConfigError, TrainConfig, load_config

FAST = 150
SLOW = int(os.environ.get("TUNESMITH_FUZZ_EXAMPLES", "10000"))

# ---- strategies ------------------------------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                           max_leaves=12)
texts = st.text(max_size=60) | st.sampled_from(["", " ", "ok", "Fix: add numpy", "Category: build\nRoot Cause: x"])
roles = st.sampled_from(["user", "assistant", "system", "tool", "", "USER"]) | st.text(max_size=6)
message = st.fixed_dictionaries({"role": roles, "content": texts | json_values},
                                optional={"weight": st.sampled_from([0, 1, 0.5, None, "1", -1])})
records = st.one_of(
    st.fixed_dictionaries({"input": texts, "output": texts}, optional={"category": json_values, "system": texts}),
    st.fixed_dictionaries({"prompt": texts | json_values, "completion": texts | json_values}),
    st.fixed_dictionaries({"instruction": texts, "output": texts}, optional={"input": texts | json_values}),
    st.fixed_dictionaries({"messages": st.lists(message, max_size=5) | json_values}),
    st.dictionaries(st.sampled_from(["input", "output", "prompt", "completion", "messages", "text", "x"]), json_values,
                    max_size=4),
    json_values,
)
# One physical line of a JSONL file (no b"\n" inside: the reader's line is the file's line).
jsonl_lines = st.one_of(
    records.map(lambda r: json.dumps(r).encode()),
    records.map(lambda r: json.dumps(r, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    st.tuples(records, st.integers(0, 40)).map(lambda t: json.dumps(t[0]).encode()[: t[1]]),  # torn by a crash
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")),
    st.text(max_size=60).map(lambda s: s.replace("\n", "").encode("utf-8", "surrogatepass")),
    st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n),  # nested past Python's recursion limit
    st.integers(1, 3000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.sampled_from([b"", b"   ", b"\r", b"\xef\xbb\xbf{}", b"null", b"[]", b'{"input": "a", "output": "b"}\r']),
)


def _tmpdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="tunesmith-fuzz-"))


def run_fuzz(strategy, check, n: int) -> int:
    """Run `check` on n generated inputs (derandomized); returns how many it saw."""
    seen = [0]

    @settings(max_examples=n, deadline=None, derandomize=True, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def prop(x):
        seen[0] += 1
        check(x)

    prop()
    return seen[0]


# ---- targets ---------------------------------------------------------------------------------------------------------


class JsonlTarget:
    strategy = st.lists(jsonl_lines, min_size=1, max_size=12)

    def __init__(self):
        self.path = _tmpdir() / "data.jsonl"

    def __call__(self, lines: list[bytes]) -> None:
        self.path.write_bytes(b"\n".join(lines) + b"\n")
        items = list(iter_examples(self.path))
        accepted = {i.line for i in items if isinstance(i, Example)}
        rejected = {i.line for i in items if isinstance(i, Problem) and i.level == "error"}
        for no, raw in enumerate(lines, 1):
            raw = raw[3:] if no == 1 and raw.startswith(b"\xef\xbb\xbf") else raw
            try:
                blank = not raw.rstrip(b"\r").decode("utf-8").strip()
            except UnicodeDecodeError:
                blank = False
            if not blank:  # every line is used or reported with its number
                assert no in accepted or no in rejected, (no, raw, items)
        examples = [i for i in items if isinstance(i, Example)]
        validate(examples, [i for i in items if isinstance(i, Problem)], examples[:2])


csv_fields = st.text(max_size=30) | st.sampled_from(['"', '""', ",", "\n", "\r\n", "a,b", '"quoted"', "\t"])


class CsvTarget:
    strategy = st.tuples(
        st.sampled_from([["input", "output"], ["prompt", "completion"], ["input", "output", "category"], ["x"], []])
        | st.lists(st.text(max_size=8), max_size=4),
        st.lists(st.lists(csv_fields, max_size=4), max_size=10),
        st.binary(max_size=40),
        st.booleans(),
    )

    def __init__(self):
        d = _tmpdir()
        self.paths = (d / "data.csv", d / "data.tsv")

    def __call__(self, case) -> None:
        header, rows, junk, tsv = case
        buf = io.StringIO()
        w = csv.writer(buf, delimiter="\t" if tsv else ",")
        w.writerow(header)
        w.writerows(rows)
        data = buf.getvalue().encode("utf-8", "surrogatepass") + junk
        path = self.paths[tsv]
        path.write_bytes(data)
        n_lines = data.count(b"\n") + data.count(b"\r") + 2
        items = list(iter_examples(path))
        for i in items:
            assert isinstance(i, (Example, Problem))
            assert 0 <= i.line <= n_lines, (i, n_lines)
        examples = [i for i in items if isinstance(i, Example)]
        validate(examples, [i for i in items if isinstance(i, Problem)])


def _parquet_bytes() -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"input": [f"error {i}: module {i % 7} missing" for i in range(60)],
                             "output": [f"Fix: add module {i % 7}" for i in range(60)]}), buf, row_group_size=20)
    return buf.getvalue()


class ParquetTarget:
    """A valid file with bytes overwritten, cut or appended: corrupt pages, footers and row groups."""

    strategy = st.tuples(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
                         st.none() | st.integers(0, 10**6), st.binary(max_size=16))

    def __init__(self):
        self.path = _tmpdir() / "data.parquet"
        self.good = _parquet_bytes()

    def __call__(self, case) -> None:
        flips, cut, tail = case
        b = bytearray(self.good)
        for pos, val in flips:
            b[pos % len(b)] = val
        if cut is not None:
            b = b[: cut % (len(b) + 1)]
        self.path.write_bytes(bytes(b) + tail)
        items = list(iter_examples(self.path))
        assert all(isinstance(i, (Example, Problem)) for i in items)


CONFIG_KEYS = list(TrainConfig.model_fields) + ["packing", "learning_rate", "", "1"]


class ConfigTarget:
    """YAML text, YAML mappings of real keys with any values, and --set overrides: a TrainConfig or a ConfigError."""

    def __init__(self):
        d = _tmpdir()
        self.train = d / "train.jsonl"
        self.train.write_text('{"input": "a", "output": "b"}\n')
        self.path = d / "cfg.yaml"
        keyed = st.dictionaries(st.sampled_from(CONFIG_KEYS) | st.text(max_size=6) | st.integers() | st.booleans(),
                                json_values | st.just(str(self.train)), max_size=6)
        self.strategy = st.tuples(
            st.one_of(keyed.map(self._dump), st.text(max_size=80), st.sampled_from([3, 100]).map(lambda n: "[" * n),
                      st.just(f"train_file: {self.train}\n")),
            st.lists(st.tuples(st.sampled_from(CONFIG_KEYS) | st.text(max_size=6), st.text(max_size=20))
                     .map(lambda kv: "=".join(kv)) | st.text(max_size=20), max_size=4),
        )

    def _dump(self, d: dict) -> str:
        import yaml

        try:
            return yaml.safe_dump(d, allow_unicode=True)
        except Exception:  # a value YAML cannot represent: write what we can
            return json.dumps({str(k): str(v) for k, v in d.items()})

    def __call__(self, case) -> None:
        text, overrides = case
        self.path.write_text(text, encoding="utf-8", errors="surrogatepass")
        for path in (self.path, None):
            try:
                cfg = load_config(path, overrides)
            except ConfigError as e:
                assert str(e)
            else:
                assert isinstance(cfg, TrainConfig)


log_lines = st.one_of(
    st.text(max_size=120),
    st.sampled_from([
        "ERROR: build failed", "FAILED tests/test_x.py::test_y - AssertionError", "##[error]Process completed with exit code 1.",
        'The command "make test" exited with 2.', "npm ERR! code E404", "$ pytest -q", "[INFO] BUILD FAILURE",
        "Traceback (most recent call last):", "  [▬▬▬▬▬▬····] 42% downloading", "\x1b[31mred\x1b[0m error: x",
        "2024-01-01T00:00:00.0000000Z ##[group]Run tests", "-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----",
        "progress 10%\rprogress 20%\rprogress 100%", "", "    at com.example.Foo.bar(Foo.java:12)",
    ]),
    st.sampled_from([line for _, _, line in PLANTED]),
    st.integers(200, 3000).map(lambda n: "ab1 " * n),
)
long_line = st.none() | st.integers(60_000, 70_000).map(lambda n: "x" * n)  # around READ_LIMIT: read in pieces


def _count(s: str) -> int:
    return len(s) // 4 + 1


class DistillTarget:
    strategy = st.tuples(st.lists(log_lines, max_size=40), st.integers(1, 2048), st.sampled_from(["str", "bytes", "lines"]),
                         st.booleans(), st.binary(max_size=20), long_line, st.integers(0, 40))

    def __call__(self, case) -> None:
        lines, budget, kind, pack, junk, long, at = case
        if long is not None:
            lines = lines[:at] + [long] + lines[at:]
        text = "\n".join(lines)
        source = {"str": text, "bytes": text.encode("utf-8", "surrogatepass") + junk,
                  "lines": [ln + "\n" for ln in text.split("\n")]}[kind]
        ex = distill(source, budget=budget, count_tokens=_count, pack_repeats=pack)
        rendered = ex.render(line_numbers=True)
        if ex.lines:
            assert _count(ex.text) <= budget
        for no, _ in ex.lines:
            assert 1 <= no <= max(ex.total_lines, 1), (no, ex.total_lines)
        for _, secret, line in PLANTED:
            if line in lines:  # a planted line on a line of its own: never in the excerpt
                assert secret not in rendered, (secret, rendered)


class RedactTarget:
    strategy = st.tuples(st.lists(log_lines, max_size=20), st.lists(st.sampled_from(range(len(PLANTED))), max_size=3),
                         st.sampled_from(["\n", "\r\n"]))

    def __call__(self, case) -> None:
        lines, plant, ending = case
        planted = [PLANTED[i] for i in plant]
        all_lines = lines + [line for _, _, line in planted]
        text = ending.join(all_lines)
        out = redact(text)
        for f in find_secrets(text):
            assert 0 <= f.start < f.end <= len(text) and f.line >= 1
        physical = text.split("\n")
        streamed = list(redact_lines([ln + "\n" for ln in physical]))
        assert len(streamed) == len(physical) and all(s.endswith("\n") for s in streamed)
        joined = "".join(streamed)
        for _, secret, _ in planted:
            assert secret not in out, (secret, out)
            assert secret not in joined, (secret, joined)


safe_regex = st.text(alphabet="ab.*+?()[]|^$\\ wd-:'\"", max_size=24)
kb_entries = st.fixed_dictionaries(
    {"id": st.sampled_from(["a", "b", "c", "npm-lock", ""]) | st.text(max_size=5) | json_values,
     "category": st.sampled_from(list(BY_ID)[:6] + ["nope", ""]) | json_values,
     "cause": st.sampled_from(["the {pkg|package} is missing", "{x}", "cause", ""]) | json_values,
     "fix": st.sampled_from(["add {pkg}", "fix it", "{pkg|it}"]) | json_values},
    optional={"signatures": st.lists(safe_regex | st.just(r"No module named '(?P<pkg>[\w.]+)'"), max_size=3) | json_values,
              "examples": st.lists(st.text(max_size=40), max_size=3) | json_values,
              "title": texts | json_values, "source": texts | json_values, "kind": json_values},
)
kb_lines = st.one_of(
    kb_entries.map(lambda r: json.dumps(r).encode()),
    st.tuples(kb_entries, st.integers(0, 60)).map(lambda t: json.dumps(t[0]).encode()[: t[1]]),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")),
    st.integers(1, 400).map(lambda n: b"[" * n + b"]" * n),  # deeper: test_kb_reader_reports_what_used_to_raise
    st.sampled_from([b"", b"  ", b"\r", b"\xef\xbb\xbf{}"]),
)


class KbTarget:
    strategy = st.tuples(st.lists(kb_lines, min_size=1, max_size=10), st.lists(st.text(max_size=60), max_size=6))

    def __init__(self):
        self.path = _tmpdir() / "kb.jsonl"

    def __call__(self, case) -> None:
        lines, log = case
        self.path.write_bytes(b"\n".join(lines))
        entries, problems = read_entries(self.path)
        used = {int(e.origin.rsplit(":", 1)[1]) for e in entries}
        reported = {p.line for p in problems}
        for no, raw in enumerate(lines, 1):
            if no == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a byte-order mark is no part of line 1
                raw = raw[3:]
            if raw.strip():
                assert no in used or no in reported, (no, raw, problems)
        assert not used & reported
        # what the analyzer does with them next: match a log against the entries read
        KnowledgeBase(entries, problems).match(list(enumerate(log, 1)))


TARGETS = {"jsonl": JsonlTarget, "csv": CsvTarget, "parquet": ParquetTarget, "config": ConfigTarget,
           "distill": DistillTarget, "redact": RedactTarget, "kb": KbTarget}


@pytest.mark.parametrize("name", TARGETS)
def test_fuzz_quick(name):
    target = TARGETS[name]()
    assert run_fuzz(target.strategy, target, FAST) >= FAST


@pytest.mark.slow
@pytest.mark.parametrize("name", TARGETS)
def test_fuzz_10k(name):
    target = TARGETS[name]()
    assert run_fuzz(target.strategy, target, SLOW) >= SLOW


# ---- hostile inputs found by fuzzing, as plain regression tests ---------------------------------------------------------


def test_deeply_nested_json_line_is_reported_not_raised(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(b'{"input": "a", "output": "b"}\n' + b"[" * 100_000 + b"\n" + b'{"a":' * 5000 + b"\n")
    items = list(iter_examples(p))
    errors = {i.line: i.message for i in items if isinstance(i, Problem) and i.level == "error"}
    assert errors.keys() == {2, 3} and "nested too deeply" in errors[2]
    assert [i.line for i in items if isinstance(i, Example)] == [1]


def test_corrupt_parquet_pages_are_reported_not_raised(tmp_path):
    good = _parquet_bytes()
    p = tmp_path / "d.parquet"
    b = bytearray(good)
    b[len(b) // 3: len(b) // 3 + 40] = b"\xff" * 40  # inside the data pages; the footer stays readable
    p.write_bytes(bytes(b))
    items = list(iter_examples(p))
    assert any(isinstance(i, Problem) and i.level == "error" for i in items)


@pytest.mark.parametrize("text, overrides, says", [
    ("1: 2\n", [], "1: unknown key"),
    ("true: 2\n", [], "True: unknown key"),
    ("[" * 5000, [], "nested too deeply"),
    ("", ["train_file=["], "not a YAML scalar"),
    ("", ["lr=\x00"], "not a YAML scalar"),
])
def test_config_loader_refuses_with_a_config_error(tmp_path, text, overrides, says):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(says)):
        load_config(cfg, overrides)


# Lines that used to raise out of tunesmith.logs.kb.read_entries instead of being reported by number.
@pytest.mark.parametrize("line", [
    b"[" * 100_000,
    json.dumps({"id": "x", "category": "dependency", "cause": "c", "fix": "f", "signatures": ["a{4294967296}"]}).encode(),
    json.dumps({"id": "x", "category": "dependency", "cause": "c", "fix": "f", "signatures": ["(" * 1000 + ")" * 1000]}).encode(),
    json.dumps({"id": "x", "category": "dependency", "cause": "c", "fix": "f", "signatures": ["a"], "title": 3}).encode(),
], ids=["deep-json", "huge-repeat", "deep-regex", "title-not-text"])
def test_kb_reader_reports_what_used_to_raise(tmp_path, line):
    p = tmp_path / "kb.jsonl"
    p.write_bytes(line + b"\n")
    _, problems = read_entries(p)
    assert [x.line for x in problems] == [1]


def test_kb_reader_takes_a_byte_order_mark_as_no_part_of_line_one(tmp_path):
    p = tmp_path / "kb.jsonl"
    entry = {"id": "x", "category": "dependency", "cause": "c", "fix": "f", "signatures": ["No module named"]}
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps(entry).encode() + b"\n")
    entries, problems = read_entries(p)
    assert [e.id for e in entries] == ["x"] and problems == []
