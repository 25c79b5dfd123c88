"""Log distillation: cleaning, finding the failure, the token budget, line numbers, streaming and awkward input."""

from __future__ import annotations

import gzip
import tracemalloc

import pytest
from typer.testing import CliRunner

from tunesmith.logs import cues
from tunesmith.logs import distill as distill_mod
from tunesmith.logs.clean import Clean, clean_line, normalise
from tunesmith.logs.distill import cue_weight, distill


def words(s: str) -> int:
    """A fast stand-in tokenizer: one token per whitespace word, at least one per line."""
    return max(1, len(s.split()))


def noise(n: int, start: int = 0) -> list[str]:
    return [f"Compiling module_{i} ({i % 7} warnings suppressed) [ok]" for i in range(start, start + n)]


def test_clean_line_strips_colours_redraws_timestamps_and_markers():
    assert clean_line("\x1b[31;1mBuild failed\x1b[0m").text == "Build failed"
    assert clean_line("Downloading 10%\rDownloading 50%\rDownloading 100%\r\n").text == "Downloading 100%"
    assert clean_line("2024-01-01T00:00:00.0000000Z npm ERR! code 1").text == "npm ERR! code 1"
    assert clean_line("2024-01-01T00:00:00.0000000Z ##[error]Process completed with exit code 1.") == (
        Clean("Process completed with exit code 1.", "error")
    )
    assert clean_line("##[group]Run npm test").tag == "step"
    assert clean_line("##[endgroup]").tag == "drop"
    assert clean_line("travis_fold:start:install\r\x1b[0K").tag == "drop"
    assert clean_line("travis_time:end:0a1b:start=1,finish=2,duration=1\r\x1b[0K$ make test").text == "$ make test"
    assert clean_line("section_start:1560896352:build_script\r\x1b[0KRunning build").text == "Running build"
    assert clean_line("[Pipeline] sh").tag == "drop"
    assert clean_line("[Pipeline] { (Build)") == Clean("Build", "step")
    assert clean_line("Solving environment: - \x08\x08| \x08\x08failed").text == "Solving environment: failed"
    long = clean_line("x" * 5000).text
    assert long.startswith("x" * 100) and "line truncated: 4000 more characters" in long
    assert normalise("  a \x1b[1m b\t c  ") == "a b c"


def test_cue_weights_rank_failures_over_success():
    assert cue_weight("Traceback (most recent call last):") == 3
    assert cue_weight("src/main.c:12:5: error: expected ';' before '}' token") == 3
    assert cue_weight("[ERROR] BUILD FAILURE") == 3
    assert cue_weight("Tests run: 12, Failures: 0, Errors: 0, Skipped: 0") == 0
    assert cue_weight("Compiling foo v0.1.0") == 0


def test_test_runner_verdicts_are_cues_and_passing_tests_are_not():
    assert cue_weight("io.reactivex.FooTest > publishNoLeak FAILED") == 3
    assert cue_weight("[info] - streams trailers *** FAILED ***") == 3
    assert cue_weight("FAIL Bug #60120 (proc_open hangs) [ext/standard/tests/file/bug60120.phpt]") == 3
    assert cue_weight("t9502-parse.sh ........ Dubious, test returned 1 (wstat 256, 0x100)") == 3
    assert cue_weight("[error] /src/main/scala/A.scala:38:56: method + in class Int is deprecated") == 3
    # A passing test whose name holds error words, skipped and expected-failure tests: not failures.
    assert cue_weight("tests/test_sudo.py::test_match[npm ERR! Error: EACCES, unlink] PASSED [ 85%]") == 0
    assert cue_weight("io.reactivex.FooTest > onErrorFailureSafe SKIPPED") == 0
    assert cue_weight("XFAIL Phar web-based phar with fatal error [ext/phar/tests/fatal_error_webphar.phpt]") == 0
    # Stack frames are the context of the exception above them, whatever level tag they carry.
    assert cue_weight("[error] \tat sbt.Execute.work(Execute.scala:278)") == 0
    assert cue_weight("\tat org.junit.Assert.fail(Assert.java:88)") == 0


def test_first_failing_test_beats_harmless_exceptions_logged_later_in_the_step():
    """A long test step: one test fails early, hundreds of passing tests log exceptions afterwards, then the summary."""
    harmless = []
    for i in range(300):
        harmless += [f"[info] - test case {i}", "java.util.concurrent.TimeoutException: 30.seconds",
                     "\tat com.example.Await.result(Await.scala:152)"]
    failure = ["[info] - decodes trailers *** FAILED ***", "[info]   expected 11 but was 10 (TrailerTest.scala:72)"]
    log = ["$ sbt test"] + noise(100) + failure + harmless + [
        "[info] *** 1 TEST FAILED ***", "[error] Failed tests:", "[error] \tcom.example.TrailerTest",
        'The command "sbt test" exited with 1.'] + [f"uploading cache chunk {i}" for i in range(200)]
    ex = distill("\n".join(log), budget=250, count_tokens=words)
    for line in failure:
        assert line in ex.text
    assert "[error] \tcom.example.TrailerTest" in ex.text


def test_the_first_of_several_failed_tests_keeps_its_details():
    details = [f"    at Spec.check (spec/parser_spec.js:{i}:7)" for i in range(12)]
    log = ["$ npm test"] + noise(50)
    for name in ("parses headers", "parses bodies", "parses trailers"):
        log += [f"not ok - {name}", "    expected: 'x-id'", "    actual:   'X-Id'"] + details + noise(40, len(log))
    log += ["# fail 3", 'The command "npm test" exited with 1.']
    ex = distill("\n".join(log), budget=160, count_tokens=words)
    assert "not ok - parses headers" in ex.text
    assert ex.text.count("spec/parser_spec.js") >= 12  # the first failure's stack, whole


def test_the_first_failure_keeps_its_whole_block_against_later_cues(monkeypatch):
    """The failing step's first failed test is the failure: its 40-line diff stays whole instead of sharing the budget
    with the context of a dozen later error lines (retries), as it would at the cost every other cue pays."""
    diff = [f"expected row {i}: 'id-{i}' but got 'ID-{i}'" for i in range(40)]
    later = []
    for i in range(12):
        later += [f"Error: request {i} to the cache failed, retrying"] + noise(6, 100 + 10 * i)
    log = ["$ npm test"] + noise(50) + ["not ok 1 - parses headers"] + diff + noise(30, 60) + later + [
        "# fail 1", 'The command "npm test" exited with 1.']
    ex = distill("\n".join(log), budget=400, count_tokens=words)
    assert all(line in ex.text for line in diff)
    monkeypatch.setattr(distill_mod, "FIRST_COST_AFTER", distill_mod.COST_AFTER)  # the same cost as any cue's
    cut = distill("\n".join(log), budget=400, count_tokens=words)
    assert not all(line in cut.text for line in diff)


def test_a_failed_test_verdict_beats_error_text_quoted_in_an_earlier_expected_output_diff():
    expected_failure = ["========DIFF========", "001- Fatal error: Call to protected method B1::f()", "========DONE========",
                        "XFAIL Calling a protected method [Zend/tests/bug37632.phpt]"]
    failure = ["========DIFF========", "001+ ** ERROR: process timed out **", "001- OK.", "========DONE========",
               "FAIL proc_open hangs on large output [ext/standard/tests/file/bug60120.phpt]"]
    # run-tests.php prints a verdict per test after its diff: PASS lines follow the failure, as in real logs.
    passes = [f"PASS stream test {i} [ext/standard/tests/file/stream_{i}.phpt]" for i in range(400)]
    log = (["$ make test"] + noise(30) + expected_failure + noise(400, 30) + failure + passes
           + ["FAILED TEST SUMMARY", "proc_open hangs on large output [ext/standard/tests/file/bug60120.phpt]",
              'The command "make test" exited with 1.'])
    ex = distill("\n".join(log), budget=90, count_tokens=words)
    for line in failure[1:]:
        assert line in ex.text


def test_settings_that_name_errors_are_not_failures():
    assert cue_weight("> Will allow errors: 302") == 0
    assert cue_weight("ignore_errors: true") == 0


def test_context_stays_inside_the_failing_step():
    log = (["$ make test"] + noise(200) + ["src/a.c:3:1: error: expected ';'", "make: *** [all] Error 1",
           'The command "make test" exited with 2.', "", "$ ./upload-cache.sh"]
           + [f"uploading cache chunk {i} of 40" for i in range(40)])
    ex = distill("\n".join(log), budget=120, count_tokens=words)
    assert "src/a.c:3:1: error: expected ';'" in ex.text
    # Lines just before the error are its context; the next step's lines are not, though just as near.
    assert noise(1, 199)[0] in ex.text
    assert "uploading cache chunk 0 of 40" not in ex.text


def test_failure_in_the_middle_survives_a_noisy_tail():
    failure = [
        "$ pytest -q",
        "Traceback (most recent call last):",
        '  File "app.py", line 3, in <module>',
        "    import numpy",
        "ModuleNotFoundError: No module named 'numpy'",
        'The command "pytest -q" exited with 1.',
    ]
    cleanup = [f"uploading cache chunk {i} of 900 to s3://bucket/cache-{i}.tgz" for i in range(900)]
    log = noise(2000) + failure + cleanup + ["Done. Your build exited with 1."]
    ex = distill("\n".join(log), budget=200, count_tokens=words)
    assert ex.found
    text = ex.text
    for line in failure[1:]:
        assert line in text
    assert ex.n_tokens <= 200
    # Original line numbers come back: the traceback starts on line 2002 of the log.
    assert (2002, "Traceback (most recent call last):") in ex.lines
    assert 2002 in ex.failure_lines
    numbered = ex.render(line_numbers=True)
    assert "2002: Traceback (most recent call last):" in numbered
    assert "2002:" not in ex.render()


def test_budget_is_respected_exactly():
    log = noise(300) + ["error: linker command failed with exit code 1"] + noise(300, 300)
    for budget in (16, 50, 300):
        ex = distill("\n".join(log), budget=budget, count_tokens=words)
        assert 0 < ex.n_tokens <= budget
        assert words(ex.text) <= budget


def test_repeated_lines_collapse():
    log = ["start"] + ["Waiting for the database..."] * 37 + ["error: database never came up"]
    ex = distill("\n".join(log), budget=1000, count_tokens=words)
    assert ex.text.count("Waiting for the database...") == 1
    assert "(previous line repeated 36 more times)" in ex.text


@pytest.mark.parametrize("source", ["", b"", [], b"\x00\xff\xfe\x81" * 5000, bytes(range(256)) * 200])
def test_empty_and_binary_input_give_no_failure(source):
    ex = distill(source, budget=100, count_tokens=words)
    assert not ex.found
    assert ex.render().startswith("[no failure found")


def test_sources_paths_bytes_lines_and_gzip(tmp_path):
    log = "\n".join(noise(50) + ["FAILED tests/test_x.py::test_y - assert 1 == 2"]) + "\n"
    plain, gz = tmp_path / "a.log", tmp_path / "a.log.gz"
    plain.write_text(log)
    gz.write_bytes(gzip.compress(log.encode()))
    results = [distill(s, budget=60, count_tokens=words).lines for s in (log, log.encode(), plain, gz, log.splitlines())]
    assert all(r == results[0] for r in results)
    assert (51, "FAILED tests/test_x.py::test_y - assert 1 == 2") in results[0]


def test_non_utf8_bytes_and_a_10mb_line():
    log = b"caf\xe9 ok\n" + b"A" * 10_000_000 + b"\nerror: boom\n"
    ex = distill(log, budget=400, count_tokens=words)
    # Three lines fit the budget whole (the 10 MB one cut to its first KiB): all kept, the bad byte decoded as U+FFFD.
    assert [n for n, _ in ex.lines] == [1, 2, 3]
    assert ex.lines[0] == (1, "caf\ufffd ok") and ex.lines[2] == (3, "error: boom")
    long = [t for _, t in distill(log, budget=10_000, count_tokens=words).lines if t.startswith("AAA")]
    assert long and "line truncated: 9999000 more characters" in long[0] and len(long[0]) < 1100


def test_streams_in_bounded_memory():
    def lines(n):
        for i in range(n):
            yield f"step {i}: compiling src/module_{i}.c with -O2 -Wall\n"
            if i % 1000 == 0:
                yield f"src/module_{i}.c:10:1: error: unknown type name 'foo'\n"

    tracemalloc.start()
    small = distill(lines(4_000), budget=300, count_tokens=words)
    _, peak_small = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    big = distill(lines(20_000), budget=300, count_tokens=words)
    _, peak_big = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert small.found and big.found
    assert "src/module_19000.c:10:1: error: unknown type name 'foo'" in big.text
    # Five times the log, not five times the memory.
    assert peak_big < 2 * peak_small + 2_000_000


def test_cli_distill_and_redact(tmp_path, monkeypatch):
    from tunesmith.cli import app

    monkeypatch.setattr(distill_mod, "default_counter", lambda: words)
    log = tmp_path / "ci.log"
    log.write_text("\n".join(noise(30) + ["export API_TOKEN=abcdef1234567890XYZ", "npm ERR! missing script: test"]))
    runner = CliRunner()
    res = runner.invoke(app, ["logs", "distill", str(log), "--budget", "40", "--line-numbers"])
    assert res.exit_code == 0, res.output
    assert "32: npm ERR! missing script: test" in res.output
    assert "abcdef1234567890XYZ" not in res.output
    res = runner.invoke(app, ["logs", "distill", "-"], input="npm ERR! code ELIFECYCLE\n")
    assert res.exit_code == 0 and "npm ERR! code ELIFECYCLE" in res.output
    res = runner.invoke(app, ["logs", "redact", str(log)])
    assert res.exit_code == 0 and "API_TOKEN=[REDACTED:secret_assignment]" in res.output
    assert len(res.output.splitlines()) == 32
    res = runner.invoke(app, ["logs", "distill", str(tmp_path / "missing.log")])
    assert res.exit_code != 0 and "missing.log" in res.output


@pytest.mark.slow
def test_default_counter_is_the_smollm2_tokenizer_and_budget_holds():
    log = "\n".join(noise(3000) + ["Traceback (most recent call last):", "KeyError: 'x'"])
    ex = distill(log, budget=256)
    assert "KeyError: 'x'" in ex.text
    assert 0 < ex.n_tokens <= 256


# One line per cue alternative, lines that only look like cues, and letters the cues' (?i) folds (ſ, ı, K).
CUE_CORPUS = [
    "Traceback (most recent call last):", "E       AssertionError: assert 1 == 2", "npm ERR! code 1", "BUILD FAILURE",
    "BUILD FAILED in 3s", "FAILURE: Build failed with an exception.", "src/a.c:3:1: fatal error: x.h: No such file",
    "error[E0425]: cannot find value `x`", "a.ts(1,2): error TS2304: Cannot find name 'x'.", "make[2]: *** [all] Error 2",
    "Failures: 2", "3 failing", "1 error", "ERRORS", "  Failures:", "java.lang.IllegalStateException: boom",
    "[ERROR] Tests run: 3", "--- FAIL: TestX (0.00s)", "panic: runtime error", "exited with code 2",
    "non-zero exit status", "fatal: not a git repository", "[-] Describe block", "✗ renders", "not ok 3 - parses",
    "  1) Parser parses", "the build failed", "2 errors", "Exception in thread", "cannot open file", "can't open",
    "could not resolve host", "couldn't connect", "unable to access", "command not found", "No such file or directory",
    "undefined reference to `x'", "unexpected token", "permission denied", "connection refused", "timed out after 30s",
    "missing dependency", "invalid syntax", "expected 1 got 2", "checksum mismatch", "merge conflict",
    "unresolved import", "miſſing file", "faıled", "UNEXPECTED", "Tests run: 12, Failures: 0, Errors: 0, Skipped: 0",
    "exit code 0", "Compiling foo v0.1.0", "ok 3 - parses", "", "   ", "✓ renders", "E  x", "12) x",
    "a.FooTest > bar FAILED", "[info] - x *** FAILED ***", "FAIL x [a.phpt]", "x ... Dubious, test returned 1",
    "❌ x", "[error] /a/B.scala:3:5: type mismatch", "[ERROR] /a/B.java:[3,5] cannot find symbol", "x <<< FAILURE!",
    "test_x[npm ERR!] PASSED [ 85%]", "x > y SKIPPED", "XFAIL a fatal error [x.phpt]", "=>motions/to-left ERROR",
    "[error] \tat sbt.Execute.work(Execute.scala:278)", "  ... 29 more", "> Will allow errors: 302",
    "Segmentation fault (core dumped)", "Aborted (core dumped)", "thread 'main' has overflowed its stack",
    "Fatal Python error: Segmentation fault", "Bus error: 10", "     Error: boom", "Error: x",
    "thread 'main' panicked at 'assertion failed', src/lib.rs:3:5", "returned a non-zero code: 2",
    "No output has been received in the last 10m0s, this potentially indicates a stalled build or something wrong",
    "The job exceeded the maximum time limit for jobs, and has been terminated.",
]


def synthetic_log(n: int) -> str:
    """The latency benchmark's GitHub-Actions-like log (noise, one pytest failure at 80%)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "analyze_latency.py"
    spec = importlib.util.spec_from_file_location("analyze_latency", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.synthetic_log(n)


def test_cue_prefilter_never_hides_a_cue():
    for line in CUE_CORPUS + synthetic_log(3000).splitlines():
        assert cue_weight(line) == cues.weigh(line)[0], line


def test_redacting_only_kept_lines_gives_the_excerpt_of_the_redacted_log():
    from tunesmith.logs.redact import redact_lines

    pem = ["-----BEGIN RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEAq0jT2nQ8xyzError", "-----END RSA PRIVATE KEY-----"]
    log = noise(200) + ["export GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789"] + pem + [
        "curl -u bob:hunter2secret https://x", "Traceback (most recent call last):", "KeyError: 'x'"] + noise(50, 200)
    for budget in (40, 120, 10_000):
        lazy = distill("\n".join(log), budget=budget, count_tokens=words)
        eager = distill(list(redact_lines(log)), budget=budget, count_tokens=words)
        assert lazy.lines == eager.lines and lazy.failure_lines == eager.failure_lines
    assert "ghp_abc" not in lazy.text and "MIIEow" not in lazy.text and "hunter2" not in lazy.text


def test_a_line_repeated_by_a_retry_is_packed_once():
    """travis_retry and test summaries print the same error again: the budget goes to other lines, not to copies."""
    attempt = ["$ xcodebuild test", "error: Build input file cannot be found: 'Source/Info-iOS.plist'",
               "** TEST BUILD FAILED **", "The command failed. Retrying, 2 of 3."]
    log = noise(100) + attempt * 3 + ['The command "travis_retry xcodebuild test" exited with 65.']
    kept = distill("\n".join(log), budget=400, count_tokens=words, pack_repeats=False)
    assert kept.text.count("** TEST BUILD FAILED **") == 3
    ex = distill("\n".join(log), budget=400, count_tokens=words)  # the default, what the analyzer sees
    assert ex.text.count("error: Build input file cannot be found") == 1
    assert ex.text.count("** TEST BUILD FAILED **") == 1


def test_progress_lines_printed_one_per_redraw_collapse_to_the_last_state():
    bars = [f"  [{'▬' * i}{'․' * (40 - i)}] {i * 1000} passing" for i in range(40)]
    failure = ["  1) parser", "     Error: expected 'x-id' but got 'X-Id'", "      at Context.<anonymous> (test/parser.js:12:7)"]
    log = ["$ npm test"] + bars + ["  [▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬] 1 failing", "", "  1 failing"] + failure + [
        'The command "npm test" exited with 1.']
    ex = distill("\n".join(log), budget=200, count_tokens=words)
    # The first and the last state of the 40 "passing" redraws; the "failing" redraw says something else: kept too.
    assert "] 0 passing" in ex.text and "(38 similar lines)" in ex.text and "] 39000 passing" in ex.text
    assert "] 5000 passing" not in ex.text
    for line in failure:
        assert line in ex.text
    assert (42, "  [▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬] 1 failing") in ex.lines  # its own line number


@pytest.mark.parametrize("line, weight", [
    # an error line without a class name
    ("     Error: The baseline file inferTypes1.types has changed.", 2),
    ("Error: Process exited with code: 2", 2),
    # panics, Docker steps, CI time limits
    ("thread 'grid::tests::scroll' panicked at 'Ref test failed', src/grid.rs:12:5", 3),
    ("The command '/bin/sh -c make' returned a non-zero code: 2", 2),
    ("No output has been received in the last 10m0s, this potentially indicates a stalled build", 3),
    ("The job exceeded the maximum time limit for jobs, and has been terminated.", 3),
    # a crashed process
    ("011+ Segmentation fault (core dumped)", 2),
    ("/bin/bash: line 1:  4242 Aborted                 (core dumped) ./run-tests", 2),
])
def test_errors_panics_crashes_and_ci_time_limits_are_cues(line, weight):
    assert cue_weight(line) == weight


# Failure lines of test runners and linters across ecosystems, as their documentation prints them.
ECOSYSTEM_FAILURES = [
    "     Failure/Error: expect(response).to be_successful",  # RSpec
    "10 examples, 1 failure",  # RSpec, Jasmine ("5 specs, 1 failure")
    "10 runs, 12 assertions, 1 failures, 0 errors, 0 skips",  # Minitest
    "FAILURES!",  # PHPUnit
    "There was 1 failure:",
    "#   Failed test 'parses dates'",  # Perl TAP
    "# Looks like you failed 1 test of 3.",
    "foo_test: bar_test...*failed*",  # EUnit
    "Failed: 1.  Skipped: 0.  Passed: 2.",
    "** (Mix) mix format failed due to --check-formatted.",  # Elixir
    "  (2/3) [EXECUTE] (X) Assertion failure",  # Vader (Vim)
    "! LaTeX Error: File `x.sty' not found.",  # TeX
    "! Undefined control sequence.",
    "Execution halted",  # R
    "OK: 10 SKIPPED: 0 FAILED: 1",  # testthat
    "1 file inspected, 1 offense detected",  # RuboCop
    "  10:5  error  'x' is not defined  no-undef",  # ESLint
    "* What went wrong:",  # Gradle
]


@pytest.mark.parametrize("line", ECOSYSTEM_FAILURES)
def test_test_runner_and_linter_failure_lines_of_other_ecosystems_are_strong_cues(line):
    assert cue_weight(line) == 3 == cues.weigh(line)[0]


@pytest.mark.parametrize("line", [
    "rspec ./spec/models/user_spec.rb:12 # User validates email",  # RSpec's list of failed examples
    "Failed 1/3 subtests", "Test Summary Report",  # prove
    "  ^-- SC2086: Double quote to prevent globbing and word splitting.",  # ShellCheck
    "Error in library(foo) : there is no package called 'foo'",  # R
])
def test_failure_details_of_other_ecosystems_are_cues(line):
    assert cue_weight(line) == 2 == cues.weigh(line)[0]


def test_their_success_lines_stay_quiet():
    for line in ("10 examples, 0 failures", "Failed: 0.  Skipped: 0.  Passed: 3.", "1 file inspected, no offenses detected",
                 "OK (3 tests, 3 assertions)", "Tests: 3, Assertions: 3, Failures: 0."):
        assert cue_weight(line) == 0, line


def test_error_prose_that_is_not_an_error_line_is_no_strong_cue():
    assert cue_weight("No Error: all good") < 2


def test_a_failure_on_the_cut_of_a_long_region_keeps_the_context_after_it():
    """Regions are cut at MAX_REGION_LINES: a failed test that is the last line before the cut keeps its stack."""
    n = distill_mod.MAX_REGION_LINES - distill_mod.PRE_LINES - 2  # lines between the first cue and the verdict
    chatter = [f"[info] retry {i}: connection refused, trying again" for i in range(n)]
    stack = [f"[info]   at com.example.Client.call{i}(Client.scala:{i + 10})" for i in range(8)]
    log = (["$ sbt test"] + noise(40) + chatter + ["[info] - reads trailers *** FAILED ***"] + stack + noise(100, 40)
           + ["[error] Failed tests: com.example.ClientTest", 'The command "sbt test" exited with 1.'])
    ex = distill("\n".join(log), budget=150, count_tokens=words)
    assert "[info] - reads trailers *** FAILED ***" in ex.text
    for line in stack:
        assert line in ex.text


def test_rules_that_frame_blocks_are_not_deduplicated():
    rule = "[INFO] ------------------------------------------------------------------------"
    log = noise(100) + ["$ mvn test", rule, "[INFO] BUILD FAILURE", rule, "[ERROR] Failed to execute goal surefire: 2 tests failed",
                        'The command "mvn test" exited with 1.']
    ex = distill("\n".join(log), budget=200, count_tokens=words, pack_repeats=True)
    assert ex.text.count(rule) == 2
