"""Secret redaction: every planted credential disappears (from `redact`, `redact_lines` and `distill`), CI lines survive."""

from __future__ import annotations

import pytest

from tunesmith.logs.distill import distill
from tunesmith.logs.redact import find_secrets, redact, redact_lines

# Built by concatenation so this file does not itself look like it leaks credentials to scanners.
GH = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
GHO = "gho_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
GHPAT = "github_pat_" + "11ABCDEFG0123456789_abcdefghijKLMNOPQRSTuvwxyz0123456789ABCDEFGHIJKLMNOPQRS"
GLPAT = "glpat-" + "xY3zAb9Cd7Ef5Gh1Ij2K"
NPM = "npm_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5"
PYPI = "pypi-" + "AgEIcHlwaS5vcmcCJDU4ZjQ2YjBlLTAwMDAtNDAwMC1hYmNkLWVmMDEyMzQ1Njc4OQACKlszLCJiMGYxIl0AAAYgq1w2e3r4t5y6"
SLACK = "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
AWS_ID = "AKIA" + "IOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
GCP = "AIza" + "SyD-1234567890abcdefghijklmnopqrstu"
AZURE = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + "Zm9vYmFyYmF6cXV4" * 5 + "Abc1==" + ";EndpointSuffix=core.windows.net"
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0." + "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
ENTROPY = "Xk9" + "fQ2mZr7LpT4vWb8NcY1sHd6Ge3Ja5Ku0"
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi7mIBQDSNULMUDgsl5BuxGm0Ww\n"
    "q0jT2nQ8eZ5Hb7+oVn1fXr3k2Lw9yJ0TgYbQ4mNaZ8cE1rUs7xIvPd6Wq3Ff0Ae\n"
    "-----END RSA PRIVATE KEY-----"
)

# (secret text that must vanish, realistic line it is planted in)
PLANTED = [
    (GH, f"remote: Invalid username or password. url=https://x-access-token:{GH}@github.com/o/r.git"),
    (GH, f"+ git clone https://{GH}@github.com/owner/repo.git"),
    (GH, f"export GITHUB_TOKEN={GH}"),
    (GHO, f"Using token {GHO} for the API"),
    (GHPAT, f"  GH_PAT: {GHPAT}"),
    (GLPAT, f"$ curl --header 'PRIVATE-TOKEN: {GLPAT}' https://gitlab.com/api/v4/projects"),
    (GLPAT, f"Setting CI_JOB_TOKEN {GLPAT}"),
    (NPM, f"//registry.npmjs.org/:_authToken={NPM}"),
    (NPM, f"npm config set token {NPM}"),
    (PYPI, f"twine upload -u __token__ -p {PYPI} dist/*"),
    (PYPI, f"TWINE_PASSWORD={PYPI}"),
    (SLACK, f"Posting to Slack with {SLACK}"),
    (AWS_ID, f"AWS_ACCESS_KEY_ID={AWS_ID}"),
    (AWS_ID, f"aws_access_key_id = {AWS_ID}"),
    (AWS_SECRET, f"aws_secret_access_key = {AWS_SECRET}"),
    (AWS_SECRET, f"export AWS_SECRET_ACCESS_KEY='{AWS_SECRET}'"),
    (GCP, f"Maps API called with key={GCP}"),
    (GCP, f'"api_key": "{GCP}",'),
    ("Zm9vYmFyYmF6cXV4", f"AZURE_STORAGE_CONNECTION_STRING: {AZURE}"),
    (JWT, f"Authorization: Bearer {JWT}"),
    (JWT, f"id_token={JWT}"),
    (JWT, f"> GET /api with cookie session={JWT}"),
    ("s3cr3tP4ss", "Cloning https://deploy:s3cr3tP4ss@git.example.com/repo.git into 'repo'"),
    ("s3cr3tP4ss", "DB_PASSWORD=s3cr3tP4ss python manage.py migrate"),
    ("s3cr3tP4ss", "mysql --user=root --password=s3cr3tP4ss -e 'select 1'"),
    ("s3cr3tP4ss", "docker login --password s3cr3tP4ss registry.example.com"),
    ("s3cr3tP4ss", "  password: s3cr3tP4ss"),
    ("hunter2hunter2", '{"client_secret": "hunter2hunter2"}'),
    ("dGVzdDp0ZXN0MTIz", "curl -H 'Authorization: Basic dGVzdDp0ZXN0MTIz' https://api.example.com"),
    ("abc123def456ghi789", "Authorization: token abc123def456ghi789"),
    (ENTROPY, f"Generated signing nonce {ENTROPY} for upload"),
    # Random after a name and version is still a secret unless it has a build id's length (20-22).
    (ENTROPY, f"Uploading tool-1.2.3-{ENTROPY}.tar.gz"),
    (ENTROPY[:24], f"session {ENTROPY[:24]} opened"),
]

# Lines a diagnosis needs, full of hex digests, SHAs, UUIDs and versions: they must come out unchanged.
SURVIVORS = [
    "HEAD is now at 3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39 Merge pull request #1234 from user/branch",
    "Digest: sha256:4bcff63911fcb4448bd4fdacec207030997caf25e9bea4045fa6c8c44de311d1",
    "Status: Downloaded newer image for python:3.11-slim@sha256:7ab1d5d6e8f3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7",
    "request-id: 123e4567-e89b-12d3-a456-426614174000",
    "Collecting numpy==1.26.4 (from -r requirements.txt (line 3))",
    "  Downloading numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl (18.2 MB)",
    "ERROR: Could not find a version that satisfies the requirement torch==9.9.9 (from versions: 2.0.0, 2.1.0)",
    "src/app.ts(12,5): error TS2322: Type 'string' is not assignable to type 'number'.",
    "tests/test_auth.py::test_token_expired FAILED                                  [ 42%]",
    "E       AssertionError: assert 'Bearer' == 'Basic'",
    "SyntaxError: Unexpected token: punc ())",
    "[ERROR] Failed to execute goal org.apache.maven.plugins:maven-surefire-plugin:2.22.2:test (default-test) on project core",
    "npm ERR! code ELIFECYCLE",
    "##[error]Process completed with exit code 1.",
    "Restored cache key: Linux-pip-9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "TOKEN=$GITHUB_TOKEN",
    "  password: ${{ secrets.DEPLOY_PASSWORD }}",
    "Setting password: required",
    "at org.junit.Assert.assertEquals(Assert.java:115) in com/example/service/UserServiceTest.java",
    "    at io.reactivex.internal.operators.observable.ObservableRefCountTest.publishNoLeak(ObservableRefCountTest.java:731)",
    "Downloading https://repo.maven.apache.org/maven2/org/apache/commons/commons-lang3/3.12.0/commons-lang3-3.12.0.pom",
    # Test and symbol names are words, not keys; Cabal/GHC unit ids are build hashes (in file names and z-encoded symbols).
    "    --- FAIL: TestDuplicatedLinks/go-oci8 (0.00s)",
    "kd_tree.c: In function '__pyx_f_7sklearn_9neighbors_7kd_tree_10BinaryTree__kde_single_depthfirst':",
    "build/libHSShellCheck-0.6.0-BXGxxcYEANCBISlPEsuG9L.a(TTY.o):fake:(.text+0x3e85): undefined reference to "
    "`ShellCheckzm0zi6zi0zmBXGxxcYEANCBISlPEsuG9L_ShellCheckziFixer_zdwapplyFix_info'",
    "./cabal/i386-windows-ghc-8.0.2/StateVar-1.1.1.1-GPqYZFd71R8RlrX0rlCJG/libHSStateVar-1.1.1.1-GPqYZFd71R8RlrX0rlCJG.a",
]


@pytest.mark.parametrize(("secret", "line"), PLANTED, ids=[f"{i}" for i in range(len(PLANTED))])
def test_planted_secret_is_redacted(secret, line):
    out = redact(line)
    assert secret not in out, out
    assert "[REDACTED:" in out


@pytest.mark.parametrize("line", SURVIVORS)
def test_ordinary_ci_lines_survive_unchanged(line):
    assert redact(line) == line
    assert find_secrets(line) == []


def test_rest_of_the_line_is_kept():
    assert redact(f"Cloning into 'repo'... export GITHUB_TOKEN={GH} && make") == (
        "Cloning into 'repo'... export GITHUB_TOKEN=[REDACTED:github_token] && make"
    )
    assert redact("git clone https://bob:pw12345@example.com/x.git") == (
        "git clone https://bob:[REDACTED:url_password]@example.com/x.git"
    )


def test_private_key_block_spanning_lines():
    text = f"Writing deploy key\n{PEM}\nDone, next step\n"
    out = redact(text)
    assert "MIIEowIBAAKCAQEA" not in out and "q0jT2nQ8" not in out
    assert out.startswith("Writing deploy key\n") and out.endswith("\nDone, next step\n")
    streamed = list(redact_lines(text.splitlines(keepends=True)))
    assert len(streamed) == text.count("\n")  # line for line: numbers stay aligned
    assert not any("MIIEowIBAAKCAQEA" in s or "q0jT2nQ8" in s for s in streamed)
    assert streamed[-1] == "Done, next step\n"


def test_find_secrets_offsets_point_at_the_secret():
    text = f"line one\nexport GITHUB_TOKEN={GH}\n"
    (f,) = find_secrets(text)
    assert f.value(text) == GH and f.line == 2 and f.kind == "github_token"


def test_nothing_planted_survives_distill():
    body = ["Collecting requests", "Installing collected packages: requests"] * 20
    planted = [line for _, line in PLANTED] + PEM.splitlines()
    log = "\n".join(body + planted + ["Traceback (most recent call last):", "ValueError: boom", "exit code 1"]) + "\n"
    ex = distill(log, budget=100_000, count_tokens=lambda s: len(s.split()) + 1)
    assert "ValueError: boom" in ex.text
    for secret, _ in PLANTED:
        assert secret not in ex.text, secret
    assert "MIIEowIBAAKCAQEA" not in ex.text


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_nothing_planted_survives_the_analyzer_excerpt(newline):
    """The analyzer hands raw logs straight to distill (no whole-log redaction pass first): secrets must still go,
    whatever the line endings, including progress redraws that put a secret after a lone carriage return."""
    from test_analyze import GOOD, ScriptedGenerator

    from tunesmith.logs.analyze import Analyzer

    planted = [line for _, line in PLANTED] + PEM.splitlines()
    redraws = [f"Downloading 10%\r{line}" for _, line in PLANTED[:5]]
    log = newline.join(planted + redraws + ["Traceback (most recent call last):", "ValueError: boom", "exit code 1"])
    ex = Analyzer(kb=False, generator=ScriptedGenerator(GOOD), budget=100_000).excerpt(log)
    assert "ValueError: boom" in ex.text
    for secret, _ in PLANTED:
        assert secret not in ex.text, secret
    assert "MIIEowIBAAKCAQEA" not in ex.text
