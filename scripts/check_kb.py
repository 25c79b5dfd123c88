#!/usr/bin/env python3
"""Check the built-in failure knowledge base (src/tunesmith/logs/kb/builtin.jsonl).

Checks: every line is a JSON object with all keys; ids unique; kinds exist in
examples/ci-failures/today/kinds.json; categories valid; every signature compiles
and matches (case-insensitively, per single line) at least one of the entry's own
examples, also behind a log timestamp; every {group|default} placeholder in cause/fix names a named group of one
of the entry's signatures; and a cross-check listing every entry whose signature
matches an example of an entry of ANOTHER kind.  Also checks one independent probe
line per kind, lines of passing runs that must match nothing, and a few plain
phrasings users paste.  Exit status 1 on any error (cross-kind collisions included, unless
listed in ALLOWED_OVERLAPS).

Usage: python scripts/check_kb.py [path/to/builtin.jsonl]
"""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KB = ROOT / "src" / "tunesmith" / "logs" / "kb" / "builtin.jsonl"
KINDS = ROOT / "examples" / "ci-failures" / "today" / "kinds.json"
KEYS = ["id", "kind", "title", "category", "signatures", "cause", "fix", "examples", "source"]
CATEGORIES = {"test_failure", "build_error", "dependency", "lint", "type_check", "documentation",
              "license", "configuration", "container", "network", "auth", "resources", "infrastructure"}
# CI logs often prefix each line with a timestamp (GitHub Actions raw logs do);
# a signature must still match its examples behind one.
TIMESTAMP = "2024-05-01T12:00:00.1234567Z "
PLACEHOLDER = re.compile(r"\{(\w+)\|([^{}]*)\}")
# (entry id, kind of the other entry's example) pairs that legitimately overlap.
ALLOWED_OVERLAPS = set()
# one typical line per kind, written independently of the entries' examples:
# it must be matched by an entry of that kind and by no entry of another kind
PROBES = {
    'gha_token_permissions': 'HttpError: Resource not accessible by integration',
    'gha_deprecated_runtime': 'Node.js 20 actions are deprecated. The following actions are running on Node.js 20 and may not work as expected: actions/checkout@v4.',
    'gha_action_not_found': 'Error: Unable to resolve action `actions/setup-nodee@v4`, repository not found',
    'gha_workflow_syntax': 'The workflow is not valid. .github/workflows/build.yml (Line: 20, Col: 9): Required property is missing: runs-on',
    'gha_secret_missing': 'Error: Input required and not supplied: aws-region',
    'gha_artifact': 'Warning: No files were found with the provided path: dist/. No artifacts will be uploaded.',
    'gha_cache': 'Warning: Failed to save: Unable to reserve cache with key Linux-pip-abc, another job may be creating this cache.',
    'gitlab_yaml_invalid': 'jobs:deploy config contains unknown keys: enviroment',
    'gitlab_no_runner': "This job is stuck because you don't have any active runners online or available with any of these tags assigned to them: gpu",
    'gitlab_dind': 'error during connect: Post "http://docker:2375/v1.24/auth": dial tcp: lookup docker on 10.0.0.2:53: no such host',
    'docker_copy_not_found': 'ERROR: failed to solve: failed to compute cache key: failed to calculate checksum of ref abc::def: "/dist": not found',
    'docker_daemon_socket': 'permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.45/info": dial unix /var/run/docker.sock: connect: permission denied',
    'docker_platform_mismatch': 'exec /app/server: exec format error',
    'docker_pull_rate_limit': 'Error response from daemon: toomanyrequests: You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit',
    'docker_image_not_found': 'Error response from daemon: manifest for python:3.13-slim-bullseye not found: manifest unknown: manifest unknown',
    'docker_run_step_failed': 'ERROR: process "/bin/sh -c apt-get update && apt-get install -y curl" did not complete successfully: exit code: 100',
    'buildkit_cache_export': 'ERROR: failed to solve: cache export feature is currently not supported for docker driver. Please switch to a different driver (eg. "docker buildx create --use")',
    'k8s_image_pull': '  Warning  Failed     3s    kubelet  Error: ImagePullBackOff',
    'k8s_crashloop': 'api-6d4cf56db6-9xz2k   0/1     CrashLoopBackOff   7          12m',
    'k8s_oomkilled': '      Reason:       OOMKilled',
    'kubectl_no_cluster': 'Unable to connect to the server: dial tcp: lookup my-cluster.hcp.eastus.azmk8s.io: no such host',
    'helm_operation_in_progress': 'Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress',
    'npm_lockfile_out_of_sync': 'npm error `npm ci` can only install packages when your package.json and package-lock.json or npm-shrinkwrap.json are in sync. Please update your lock file with `npm install` before continuing.',
    'npm_eresolve': 'npm error code ERESOLVE',
    'npm_package_json_missing': "npm ERR! enoent Could not read package.json: Error: ENOENT: no such file or directory, open '/app/package.json'",
    'node_heap_oom': 'FATAL ERROR: CALL_AND_RETRY_LAST Allocation failed - JavaScript heap out of memory',
    'yarn_frozen_lockfile': 'error Your lockfile needs to be updated, but yarn was run with `--frozen-lockfile`.',
    'pnpm_outdated_lockfile': ' ERR_PNPM_OUTDATED_LOCKFILE  Cannot install with "frozen-lockfile" because pnpm-lock.yaml is not up to date with <ROOT>/package.json',
    'node_gyp_failed': 'gyp ERR! configure error',
    'node_openssl_unsupported': "  code: 'ERR_OSSL_EVP_UNSUPPORTED'",
    'node_engine_unsupported': 'npm warn EBADENGINE Unsupported engine {',
    'pep668_externally_managed': 'error: externally-managed-environment',
    'pip_no_matching_distribution': 'ERROR: No matching distribution found for torch==1.4.0',
    'pip_resolution_impossible': 'ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/dependency-resolution/#dealing-with-dependency-conflicts',
    'python_module_not_found': "ModuleNotFoundError: No module named 'src'",
    'poetry_lock_mismatch': 'pyproject.toml changed significantly since poetry.lock was last generated. Run `poetry lock` to fix the lock file.',
    'python_wheel_build_failed': 'ERROR: Failed building wheel for lxml',
    'uv_errors': 'error: The lockfile at `uv.lock` needs to be updated, but `--locked` was provided. To update the lockfile, run `uv lock`.',
    'python_version_unavailable': "Error: The version '3.7' with architecture 'x64' was not found for Ubuntu 24.04.",
    'maven_dependency_resolution': '[ERROR] Failed to execute goal on project core: Could not resolve dependencies for project org.acme:core:jar:1.2.0: The following artifacts could not be resolved: org.acme:util:jar:1.2.0 (absent): Could not find artifact org.acme:util:jar:1.2.0 in central',
    'jvm_class_version': "BUG! exception in phase 'semantic analysis' in source unit '_BuildScript_' Unsupported class file major version 61",
    'gradlew_permission': './gradlew: Permission denied',
    'java_compilation_error': '[ERROR] /home/runner/work/app/src/main/java/org/acme/Foo.java:[42,17] cannot find symbol',
    'gradle_daemon_oom': 'java.lang.OutOfMemoryError: GC overhead limit exceeded',
    'go_sum_missing': 'go: example.com/app imports github.com/google/uuid: missing go.sum entry for module providing package github.com/google/uuid (imported by example.com/app); to add:',
    'go_version_mismatch': 'go: go.mod requires go >= 1.22.1 (running go 1.21.6; GOTOOLCHAIN=local)',
    'go_private_module': "fatal: could not read Username for 'https://github.com': terminal prompts disabled",
    'golangci_lint': 'level=error msg="Timeout exceeded: try increasing it by passing --timeout option"',
    'rust_toolchain_too_old': '  feature `edition2024` is required',
    'cargo_lockfile_version': 'error: failed to parse lock file at: /home/runner/work/app/Cargo.lock',
    'rust_native_deps': 'error: linker `cc` not found',
    'clippy_denied': '  = note: `-D clippy::uninlined-format-args` implied by `-D warnings`',
    'dotnet_sdk_version': '/usr/share/dotnet/sdk/6.0.428/Sdks/Microsoft.NET.Sdk/targets/Microsoft.NET.TargetFrameworkInference.targets(144,5): error NETSDK1045: The current .NET SDK does not support targeting .NET 8.0.  Either target .NET 6.0 or lower, or use a version of the .NET SDK that supports .NET 8.0.',
    'nuget_restore': '/home/runner/work/app/App.csproj : error NU1101: Unable to find package Acme.Internal. No packages exist with this id in source(s): nuget.org',
    'bundler_platform': 'Your bundle only supports platforms ["arm64-darwin-23"] but your local platform is x86_64-linux. Add the current platform to the lockfile with `bundle lock --add-platform x86_64-linux` and try again.',
    'ruby_version_mismatch': 'Your Ruby version is 3.3.0, but your Gemfile specified ~> 3.2.0',
    'native_gem_build': 'Gem::Ext::BuildError: ERROR: Failed to build gem native extension.',
    'cmake_package_not_found': '  Could not find a package configuration file provided by "fmt" with any of the following names:',
    'cpp_missing_header': '/src/net.cpp:4:10: fatal error: curl/curl.h: No such file or directory',
    'cpp_undefined_reference': "main.cpp:(.text+0x1a): undefined reference to `fmt::v10::vformat(fmt::v10::basic_string_view<char>, fmt::v10::basic_format_args<fmt::v10::basic_format_context<fmt::v10::appender, char> >)'",
    'runner_oom_killed': '##[error]Process completed with exit code 137.',
    'disk_space': 'ERROR: failed to solve: failed to copy: write /var/lib/buildkit/runc-overlayfs/content/ingest/abc/data: no space left on device',
    'job_timeout': 'ERROR: Job failed: execution took longer than 3h0m0s seconds',
    'runner_lost': 'The hosted runner: GitHub Actions 12 lost communication with the server. Anything in your workflow that terminates the runner process, starves it for CPU/Memory, or blocks its network access can cause this error.',
    'git_safe_directory': "fatal: detected dubious ownership in repository at '/github/workspace'",
    'eol_distro_repos': "E: The repository 'http://security.debian.org/debian-security buster/updates Release' does not have a Release file.",
    'git_checkout_failed': 'fatal: reference is not a tree: 6f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6',
    'tls_certificate': "Could not fetch URL https://pypi.org/simple/requests/: There was a problem confirming the ssl certificate: HTTPSConnectionPool(host='pypi.org', port=443): Max retries exceeded with url: /simple/requests/ (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate (_ssl.c:1007)')))",
    'dns_resolution': 'npm error request to https://registry.npmjs.org/typescript failed, reason: getaddrinfo ENOTFOUND registry.npmjs.org',
    'network_timeout_reset': 'npm ERR! code ETIMEDOUT',
    'github_api_rate_limit': 'Error: API rate limit exceeded for installation ID 43210987.',
    'registry_login_denied': 'Error response from daemon: Get "https://ghcr.io/v2/": denied: denied',
    'npm_publish_auth': 'npm error code ENEEDAUTH',
    'cloud_credentials_missing': 'An error occurred (ExpiredToken) when calling the GetCallerIdentity operation: The security token included in the request is expired',
    'git_push_denied': 'remote: Permission to acme/site.git denied to github-actions[bot].',
    'ssh_host_key': 'Host key verification failed.',
}
# ordinary lines of passing CI runs: no entry may match them
BENIGN = [
    "Run actions/checkout@v4",
    "Version 3.9.6 was not found in the local cache",
    "Successfully installed requests-2.31.0 urllib3-2.0.7",
    "added 1234 packages, and audited 1235 packages in 31s",
    "npm WARN deprecated inflight@1.0.6: This module is not supported, and leaks memory.",
    "BUILD SUCCESSFUL in 1m 12s",
    "[INFO] BUILD SUCCESS",
    "Post job cleanup.",
    "Cleaning up orphan processes",
    "Downloading https://repo.maven.apache.org/maven2/org/slf4j/slf4j-api/2.0.9/slf4j-api-2.0.9.pom",
    "Step 4/12 : COPY requirements.txt .",
    "#8 [4/7] COPY package.json package-lock.json ./",
    "Collecting numpy==1.26.4",
    "go: downloading github.com/stretchr/testify v1.8.4",
    "   Compiling serde v1.0.195",
    "    Finished `release` profile [optimized] target(s) in 1m 02s",
    "Restored /home/runner/work/app/app/src/App.csproj (in 2.1 sec).",
    "Bundle complete! 42 Gemfile dependencies, 120 gems now installed.",
    "-- Found OpenSSL: /usr/lib/x86_64-linux-gnu/libcrypto.so (found version \"3.0.2\")",
    "[100%] Built target app",
    "Cache restored from key: node-cache-Linux-npm-abc123",
    "Pulling docker image docker:24-dind ...",
    "Waiting for services to be up and running (timeout 30 seconds)...",
    "Get:1 http://archive.ubuntu.com/ubuntu jammy InRelease [270 kB]",
    "Reading package lists... Done",
    "deployment.apps/web configured",
    "Release \"web\" has been upgraded. Happy Helming!",
    "Login Succeeded",
    "The push refers to repository [docker.io/acme/app]",
    "To https://github.com/acme/app.git",
    "ok  \texample.com/app/pkg\t0.532s",
    "test result: ok. 42 passed; 0 failed; 0 ignored",
    "================ 120 passed in 12.34s ================",
    "Tests:       88 passed, 88 total",
    "Lockfile is up to date, resolution step is skipped",
    "Resolving dependencies...",
    "warning: variable does not need to be mutable",
    "Job succeeded",
]
# plain phrasings a user may paste: line -> (expected entry kind, {group: value})
PHRASINGS = {
    "ERROR: Docker build failed COPY requirements.txt not found": ("docker_copy_not_found", {"file": "requirements.txt"}),
    "ERROR: npm install failed package.json missing": ("npm_package_json_missing", {"file": "package.json"}),
}


def load(path):
    entries, errors = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"line {n}: invalid JSON: {exc}")
            continue
        if not isinstance(obj, dict):
            errors.append(f"line {n}: not an object")
            continue
        missing = [k for k in KEYS if k not in obj]
        if missing:
            errors.append(f"line {n}: missing keys {missing}")
            continue
        obj["_line"] = n
        entries.append(obj)
    return entries, errors


def main(argv):
    path = Path(argv[1]) if len(argv) > 1 else KB
    kinds = json.loads(KINDS.read_text())["kinds"]
    entries, errors = load(path)
    seen = {}
    compiled = {}
    for e in entries:
        eid = e["id"]
        where = f"{eid} (line {e['_line']})"
        if eid in seen:
            errors.append(f"{where}: duplicate id (also line {seen[eid]})")
        seen[eid] = e["_line"]
        if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", eid):
            errors.append(f"{where}: id is not short kebab-case")
        if e["kind"] not in kinds:
            errors.append(f"{where}: unknown kind {e['kind']!r}")
        if e["category"] not in CATEGORIES:
            errors.append(f"{where}: unknown category {e['category']!r}")
        for key in ("title", "cause", "fix", "source"):
            if not isinstance(e[key], str) or not e[key].strip():
                errors.append(f"{where}: {key} must be a non-empty string")
        if not str(e["source"]).startswith("http"):
            errors.append(f"{where}: source is not a URL")
        if not e["signatures"] or not e["examples"]:
            errors.append(f"{where}: needs at least one signature and one example")
        groups = set()
        pats = []
        for sig in e["signatures"]:
            try:
                rx = re.compile(sig, re.IGNORECASE)
            except re.error as exc:
                errors.append(f"{where}: signature {sig!r} does not compile: {exc}")
                continue
            pats.append(rx)
            groups |= set(rx.groupindex)
            if not any(rx.search(x) for x in e["examples"]):
                errors.append(f"{where}: signature {sig!r} matches none of its examples")
            elif not any(rx.search(TIMESTAMP + x) for x in e["examples"]):
                errors.append(f"{where}: signature {sig!r} stops matching its examples behind a log timestamp")
        compiled[eid] = pats
        for key in ("cause", "fix"):
            for name, _default in PLACEHOLDER.findall(e[key]):
                if name not in groups:
                    errors.append(f"{where}: {key} placeholder {{{name}|...}} names no group of its signatures")
            rest = PLACEHOLDER.sub("", e[key])
            if re.search(r"\{\w+\}", rest):
                errors.append(f"{where}: {key} has a placeholder without a default: {rest!r}")
    # cross-check: a signature of entry A matching an example of entry B of another kind
    collisions = []
    for a in entries:
        for b in entries:
            if a["kind"] == b["kind"]:
                continue
            for rx in compiled.get(a["id"], []):
                for x in b["examples"]:
                    if rx.search(x):
                        collisions.append((a, b, rx.pattern, x))
    for a, b, pat, x in collisions:
        tag = "allowed overlap" if (a["id"], b["kind"]) in ALLOWED_OVERLAPS else "COLLISION"
        msg = f"{tag}: {a['id']} [{a['kind']}] signature {pat!r} matches example of {b['id']} [{b['kind']}]: {x!r}"
        if tag == "COLLISION":
            errors.append(msg)
        else:
            print(msg)
    # plain phrasings
    for line, (kind, want) in PHRASINGS.items():
        hits = []
        for e in entries:
            for rx in compiled.get(e["id"], []):
                m = rx.search(line)
                if m:
                    hits.append((e, m))
                    break
        good = [(e, m) for e, m in hits if e["kind"] == kind and all(m.groupdict().get(k) == v for k, v in want.items())]
        if not good:
            errors.append(f"phrasing {line!r}: no {kind} entry matches with {want}; hits: {[e['id'] for e, _ in hits]}")
        wrong = [e["id"] for e, _ in hits if e["kind"] != kind]
        if wrong:
            errors.append(f"phrasing {line!r}: also matched by other kinds: {wrong}")
    for kind, line in PROBES.items():
        hits = [e for e in entries if any(rx.search(line) for rx in compiled.get(e["id"], []))]
        if not any(e["kind"] == kind for e in hits):
            errors.append(f"probe for {kind} is not matched by any {kind} entry: {line!r}")
        for e in hits:
            if e["kind"] != kind and (e["id"], kind) not in ALLOWED_OVERLAPS:
                errors.append(f"COLLISION: {e['id']} [{e['kind']}] matches the probe for {kind}: {line!r}")
    for line in BENIGN:
        hits = [e["id"] for e in entries if any(rx.search(line) for rx in compiled.get(e["id"], []))]
        if hits:
            errors.append(f"benign line {line!r} is matched by {hits}")
    # summary
    per_kind = {}
    for e in entries:
        per_kind[e["kind"]] = per_kind.get(e["kind"], 0) + 1
    uncovered = sorted(set(kinds) - set(per_kind))
    print(f"{len(entries)} entries, {len(per_kind)}/{len(kinds)} kinds covered")
    if uncovered:
        print("kinds without entries:", ", ".join(uncovered))
    for err in errors:
        print("ERROR:", err)
    print(f"{len(errors)} error(s), {len(collisions)} cross-kind match(es)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
