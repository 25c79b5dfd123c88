"""Realistic CI job logs to embed a short failure snippet in: the snippet as a real failed job would print it.

    log, (first, last) = embed(snippet, "github_actions", "node", seed=3)

The log is a few thousand lines of ordinary work in one CI dialect (github_actions, gitlab_ci, jenkins, else plain
`local` shell output) for one ecosystem (node, python, jvm, go, rust, docker, kubernetes, dotnet, ruby, cpp, runner,
network, credentials; others get node, python or go): the runner's preamble, checkout, installs, builds and passing
tests with their harmless noise (deprecation warnings, `0 errors`, compiler warnings, retries that succeeded, long
lines, colour codes). The snippet's lines go in verbatim near the end of the failing step, followed by a few lines of
that step's tail and the dialect's end-of-job lines. Line numbers are 1-based over `log.split("\\n")` (GitLab's section
lines hold a `\\r`, as real ones do). No background line is a failure cue of tunesmith's distiller: only the snippet and
the end-of-job lines that `FAILURE_END` matches are. Pure standard library, deterministic per seed, no network.
"""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta

__all__ = ["DIALECTS", "ECOSYSTEMS", "FAILURE_END", "embed"]

DIALECTS = ("github_actions", "gitlab_ci", "jenkins", "local")
# The dialects' end-of-job lines that report the failure (the only cues a background may carry, after the snippet).
FAILURE_END = re.compile(r"Process completed with exit code [1-9]|ERROR: Job failed|Uploading artifacts for failed job"
                         r"|script returned exit code [1-9]|^Finished: FAILURE|skipped due to earlier failure")
# A step's failure end as any dialect prints it: a snippet holding one already ends its step.
_STEP_FAILED = re.compile(r"Process completed with exit code|ERROR: Job failed|script returned exit code|"
                          r"Finished: FAILURE|exited with [1-9]")
_GHA_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z ")
_BRACKET_TS = re.compile(r"^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z\] ")
_STEP_START = {"github_actions": re.compile(r"##\[group\]Run "), "gitlab_ci": re.compile(r"(?:\x1b\[[\d;]*m)*\$ "),
               "jenkins": re.compile(r"\[Pipeline\] sh|\+ "), "local": re.compile(r"\$ ")}

# Template tables. Each line is a template: `^` a header line, `$` a line of a successful step's end, `~` a tail line
# after the failure, `?` rare noise, else a body line drawn at random. `¶` splits one template into lines that share
# their placeholders ({n}, {ver}, {npm}, ... ; a digit suffix gives a second value: {n2}).
# Maven's last lines, after a step that passed ($) and after a failure (~).
_MVN_END = """$[INFO] ------------------------------------------------------------------------
$[INFO] BUILD SUCCESS
$[INFO] ------------------------------------------------------------------------
$[INFO] Total time:  {n}.{n2} s
$[INFO] Finished at: {date}
$[INFO] ------------------------------------------------------------------------
~[INFO] ------------------------------------------------------------------------
~[INFO] Total time:  {n}.{n2} s
~[INFO] Finished at: {date}
~[INFO] ------------------------------------------------------------------------
"""
_T = {
    "npm": """^
^> {proj}@{pver} prepare
^> husky install
^
npm http fetch GET 200 https://registry.npmjs.org/{npm}/-/{npm}-{ver}.tgz {ms}ms (cache miss)
npm http fetch GET 200 https://registry.npmjs.org/{npm}/-/{npm}-{ver}.tgz {ms}ms (cache hit)
npm http fetch GET 200 https://registry.npmjs.org/{npm} {ms}ms (cache revalidated)
npm http fetch GET 200 https://registry.npmjs.org/@types%2f{npm} {ms}ms (cache updated)
npm info run {npm}@{ver} postinstall node_modules/{npm} node install.js¶npm info run {npm}@{ver} postinstall { code: 0, signal: null }
?npm WARN deprecated inflight@1.0.6: This module is not supported, and leaks memory. Do not use it. Check out lru-cache if you want a good and tested way to coalesce async requests by a key value, which is much more comprehensive and powerful.
?npm WARN deprecated glob@7.2.3: Glob versions prior to v9 are no longer supported
?npm WARN deprecated rimraf@3.0.2: Rimraf versions prior to v4 are no longer supported
?npm WARN deprecated {npm}@{ver}: This package is no longer supported.
$
$added {big} packages, and audited {big2} packages in {n}s
$
${n2} packages are looking for funding
$  run `npm fund` for details
$
${n3} vulnerabilities ({n4} moderate, {n5} high)
$
$To address issues that do not require attention, run:
$  npm audit fix
$
$Run `npm audit` for details.
~""",
    "webpack": """^
^> {proj}@{pver} build
^> webpack --mode production
^
asset {mod}.{h}.js {kb} KiB [emitted] [immutable] [minimized] (name: {mod}) 1 related asset
asset {mod}.{h}.css {kb} KiB [emitted] [immutable] (name: {mod})
orphan modules {kb} KiB [orphan] {n} modules
runtime modules {kb} KiB {n} modules
  modules by path ./src/{mod}/ {kb} KiB {n} modules
  modules by path ./node_modules/{npm}/ {kb} KiB {n} modules
  ./node_modules/{npm}/index.js {kb} KiB [built] [code generated]
  ./src/{mod}/{mod2}.ts + {n} modules {kb} KiB [built] [code generated]
?Browserslist: caniuse-lite is outdated. Please run:¶  npx update-browserslist-db@latest¶  Why you should do it regularly: https://github.com/browserslist/update-db#readme
?WARNING in asset size limit: The following asset(s) exceed the recommended size limit (244 KiB).¶This can impact web performance.
$webpack 5.{n}.{n2} compiled with 2 warnings in {big} ms
~""",
    "jest": """^
^> {proj}@{pver} test
^> jest --ci --coverage
^
\x1b[0m\x1b[7m\x1b[1m\x1b[32m PASS \x1b[39m\x1b[22m\x1b[27m\x1b[0m \x1b[2msrc/{mod}/\x1b[22m\x1b[1m{mod2}.test.ts\x1b[22m ({s} s)
 PASS  src/{mod}/{mod2}.test.js
 PASS  src/components/{Cls}.test.tsx
?(node:{big}) [DEP0040] DeprecationWarning: The `punycode` module is deprecated. Please use a userland alternative instead.¶(Use `node --trace-deprecation ...` to show where the warning was created)
?  console.log¶    {mod} ready on port 30{n}¶¶      {d}at Object.log (src/{mod}/index.ts:{n}:{n2}){x}¶
${b}Test Suites: {x}{g}{b}{n} passed{x}, {n} total
${b}Tests:       {x}{g}{b}{big} passed{x}, {big} total
${b}Snapshots:   {x}{g}{b}{n2} passed{x}, {n2} total
${b}Time:{x}        {s} s
${d}Ran all test suites.{x}
~{b}Time:{x}        {s} s
~{d}Ran all test suites.{x}""",
    "pip": """Collecting {py}=={ver} (from -r requirements.txt (line {n}))
Collecting {py}>={ver} (from {py2}=={ver2}->-r requirements-dev.txt (line {n}))
  Downloading {py}-{ver}-py3-none-any.whl.metadata ({kb} kB)
  Downloading {py}-{ver}-py3-none-any.whl ({kb} kB)
  Downloading {py}-{ver}-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl ({kb} MB)¶     {g}━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━{x} {kb}/{kb} MB {r}{n} MB/s{x} eta {c}0:00:00{x}
  Using cached {py}-{ver}-py3-none-any.whl ({kb} kB)
Requirement already satisfied: {py}>={ver} in /opt/hostedtoolcache/Python/3.11.8/x64/lib/python3.11/site-packages (from -r requirements.txt (line {n})) ({ver2})
?  Installing build dependencies: started¶  Installing build dependencies: finished with status 'done'
?DEPRECATION: {py} is being installed using the legacy 'setup.py install' method, because it does not have a 'pyproject.toml' and the 'wheel' package is not installed. pip 23.1 will enforce this behaviour change. A possible replacement is to enable the '--use-pep517' option. Discussion can be found at https://github.com/pypa/pip/issues/8559
$Installing collected packages: {pylist}
$Successfully installed {pyvers}
$
$[notice] A new release of pip is available: 24.0 -> 24.3.1
$[notice] To update, run: python -m pip install --upgrade pip
~""",
    "ruff": """$All checks passed!
$Success: no issues found in {big} source files""",
    "pytest": """^{b}============================= test session starts =============================={x}
^platform linux -- Python 3.11.8, pytest-8.1.1, pluggy-1.4.0 -- /opt/hostedtoolcache/Python/3.11.8/x64/bin/python
^cachedir: .pytest_cache
^rootdir: /home/runner/work/{proj}/{proj}
^configfile: pyproject.toml
^plugins: cov-4.1.0, xdist-3.5.0, anyio-4.3.0, mock-3.12.0
^collecting ... collected {big} items
^
tests/test_{mod}.py::test_{test} {g}PASSED{x}{sp}[{pct}%]
tests/test_{mod}.py::test_{test}[{param}] {g}PASSED{x}{sp}[{pct}%]
tests/{mod}/test_{mod2}.py::Test{Test}::test_{test} {g}PASSED{x}{sp}[{pct}%]
?tests/test_{mod}.py::test_{test} {y}SKIPPED{x} (requires docker){sp}[{pct}%]
${g}======================= {big} passed, {n} warnings in {s}s ======================={x}
~
~{y}=============================== warnings summary ==============================={x}
~.venv/lib/python3.11/site-packages/{py}/__init__.py:{n}: DeprecationWarning: pkg_resources is deprecated as an API. See https://setuptools.pypa.io/en/latest/pkg_resources.html
~  import pkg_resources
~
~-- Docs: https://docs.pytest.org/en/stable/how-to/capture-warnings.html""",
    "mvn_deps": """^[INFO] Scanning for projects...
^[INFO]
^[INFO] ------------------------< com.acme:{proj} >------------------------
^[INFO] Building {proj} {pver}-SNAPSHOT
^[INFO]   from pom.xml
^[INFO] --------------------------------[ jar ]---------------------------------
[INFO] Downloading from central: https://repo.maven.apache.org/maven2/{jar}/{ver}/{art}-{ver}.pom
[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/{jar}/{ver}/{art}-{ver}.pom ({kb} kB at {big} kB/s)
[INFO] Downloading from central: https://repo.maven.apache.org/maven2/{jar}/{ver}/{art}-{ver}.jar
[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/{jar}/{ver}/{art}-{ver}.jar ({kb} kB at {big} kB/s)
?[WARNING] Parameter 'localRepository' is deprecated core expression; Avoid use of ArtifactRepository type.
""" + _MVN_END,
    "mvn_compile": """^[INFO] --- resources:3.3.1:resources (default-resources) @ {proj} ---
^[INFO] Copying {n} resources from src/main/resources to target/classes
^[INFO] --- compiler:3.11.0:compile (default-compile) @ {proj} ---
^[INFO] Changes detected - recompiling the module! :dependency
[INFO] Compiling {big} source files with javac [debug release 17] to target/classes
[WARNING] /home/runner/work/{proj}/{proj}/src/main/java/com/acme/{mod}/{Cls}.java:[{n},{n2}] [deprecation] get{Test}() in {Cls2} has been deprecated
[WARNING] /home/runner/work/{proj}/{proj}/src/main/java/com/acme/{mod}/{Cls}.java:[{n},{n2}] [removal] finalize() in Object has been deprecated and marked for removal
[INFO] /home/runner/work/{proj}/{proj}/src/main/java/com/acme/{mod}/{Cls}.java: Some input files use unchecked or unsafe operations.¶[INFO] /home/runner/work/{proj}/{proj}/src/main/java/com/acme/{mod}/{Cls}.java: Recompile with -Xlint:unchecked for details.
""" + _MVN_END,
    "mvn_test": """^[INFO] --- surefire:3.2.5:test (default-test) @ {proj} ---
^[INFO] Using auto detected provider org.apache.maven.surefire.junitplatform.JUnitPlatformProvider
^[INFO]
^[INFO] -------------------------------------------------------
^[INFO]  T E S T S
^[INFO] -------------------------------------------------------
[INFO] Running com.acme.{mod}.{Cls}Test¶[INFO] Tests run: {n}, Failures: 0, Errors: 0, Skipped: 0, Time elapsed: {s} s -- in com.acme.{mod}.{Cls}Test
{d}{date} INFO  [main] c.a.{mod}.{Cls} - Started {Cls} in {s} seconds (process running for {s2}){x}
{date} DEBUG [main] o.s.b.t.c.SpringBootTestContextBootstrapper - Loaded default TestExecutionListener class names
?OpenJDK 64-Bit Server VM warning: Sharing is only supported for boot loader classes because bootstrap classpath has been appended
$[INFO]
$[INFO] Results:
$[INFO]
$[INFO] Tests run: {big}, Failures: 0, Errors: 0, Skipped: {n}
""" + _MVN_END,
    "go_dl": """# get https://proxy.golang.org/{gopkg}/@v/v{ver}.mod¶# get https://proxy.golang.org/{gopkg}/@v/v{ver}.mod: 200 OK ({s}s)
# get https://proxy.golang.org/{gopkg}/@v/v{ver}.zip¶# get https://proxy.golang.org/{gopkg}/@v/v{ver}.zip: 200 OK ({s}s)
go: downloading {gopkg} v{ver}""",
    "go_build": """{gomod}/internal/{mod}
{gopkg}
{gopkg}/internal/{mod}
?# {gomod}/internal/{mod}¶ld: warning: -bind_at_load is deprecated""",
    "go_test": """=== RUN   Test{Test}¶=== RUN   Test{Test}/{test}¶    --- PASS: Test{Test}/{test} ({s}s)¶--- PASS: Test{Test} ({s2}s)
=== RUN   Test{Test}¶=== PAUSE Test{Test}¶=== CONT  Test{Test}¶    {mod}_test.go:{n}: using fixture testdata/{mod}.json¶--- PASS: Test{Test} ({s}s)
PASS¶ok  \t{gomod}/internal/{mod}\t{s}s\tcoverage: {n}.{n2}% of statements
?   \t{gomod}/cmd/{mod}\t[no test files]
~ok  \t{gomod}/internal/{mod}\t{s}s\tcoverage: {n}.{n2}% of statements
~?   \t{gomod}/cmd/{mod}\t[no test files]""",
    "cargo_build": """^{g}{b}    Updating{x} crates.io index
^{g}{b}  Downloaded{x} {big} crates ({n}.{n2} MB) in {s}s
{g}{b}   Compiling{x} {crate} v{ver}
{g}{b}   Compiling{x} {crate} v{ver}
?{y}{b}warning{x}{b}: unused import: `{crate}::{Cls}`{x}¶{c}{b}  --> {x}src/{mod}.rs:{n}:{n2}¶{c}{b}   |{x}¶{c}{b}{n} |{x} use {crate}::{Cls};¶{c}{b}   |{x}     {y}{b}^^^^^^^^^^^^{x}¶{c}{b}   |{x}¶{c}{b}   = {x}{b}note{x}: `#[warn(unused_imports)]` on by default¶
?{y}{b}warning{x}{b}: `{proj}` (lib) generated {n} warnings (run `cargo fix --lib -p {proj}` to apply {n} suggestions){x}
${g}{b}    Finished{x} `dev` profile [unoptimized + debuginfo] target(s) in {s}s""",
    "cargo_test": """^{g}{b}   Compiling{x} {proj} v0.{n}.0 (/home/runner/work/{proj}/{proj})
^{g}{b}    Finished{x} `test` profile [unoptimized + debuginfo] target(s) in {s}s
{g}{b}     Running{x} unittests src/lib.rs (target/debug/deps/{proj}-{hh})¶¶running {n} tests
test {mod}::tests::{test} ... {g}ok{x}
test {mod}::{mod2}::tests::{test} ... {g}ok{x}
?test {mod}::tests::{test} ... {y}ignored{x}, requires network
?¶test result: {g}ok{x}. {n} passed; 0 failed; {n2} ignored; 0 measured; 0 filtered out; finished in {s}s¶
$¶{g}{b}   Doc-tests{x} {proj}¶¶running 0 tests¶¶test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
~
~{g}{b}     Running{x} tests/{mod}.rs (target/debug/deps/{mod}-{hh})""",
    "docker_pull": """^{btag}: Pulling from library/{bname}
{hh}: Pulling fs layer
{hh}: Waiting
{hh}: Verifying Checksum¶{hh}: Download complete
{hh}: Pull complete
?{hh}: Retrying in {n} seconds
$Digest: sha256:{sha}
$Status: Downloaded newer image for {bname}:{btag}
$docker.io/library/{bname}:{btag}""",
    "buildkit": """^#0 building with "default" instance using docker driver
^
^#1 [internal] load build definition from Dockerfile
^#1 transferring dockerfile: {n}7B done
^#1 DONE 0.0s
^
^#2 [internal] load metadata for docker.io/library/{bname}:{btag}
^#2 DONE {s}s
^
#{bk} [{bi}/12] RUN apt-get update && apt-get install -y --no-install-recommends {deb} {deb2} && rm -rf /var/lib/apt/lists/*¶#{bk} {el} Get:{n} http://deb.debian.org/debian bookworm/main amd64 {deb} amd64 {ver} [{kb} kB]¶#{bk} {el2} Get:{n2} http://deb.debian.org/debian bookworm/main amd64 {deb2} amd64 {ver2} [{kb2} kB]¶#{bk} {el3} debconf: delaying package configuration, since apt-utils is not installed¶#{bk} {el4} Setting up {deb} ({ver}) ...¶#{bk} DONE {el5}s¶
#{bk} [{bi}/12] COPY {mod}/ ./{mod}/¶#{bk} DONE 0.{n}s¶
#{bk} [{bi}/12] WORKDIR /app¶#{bk} CACHED¶
#{bk} [{bi}/12] RUN npm ci --omit=dev¶#{bk} {el} npm WARN deprecated {npm}@{ver}: This package is no longer supported.¶#{bk} {el2} ¶#{bk} {el3} added {big} packages, and audited {big2} packages in {n}s¶#{bk} DONE {el4}s¶
#{bk} [{bi}/12] RUN pip install --no-cache-dir -r requirements.txt¶#{bk} {el} Collecting {py}=={ver}¶#{bk} {el2}   Downloading {py}-{ver}-py3-none-any.whl ({kb} kB)¶#{bk} {el3} Successfully installed {py}-{ver}¶#{bk} DONE {el4}s¶
$#{bk} exporting to image¶#{bk} exporting layers {s}s done¶#{bk} writing image sha256:{sha} done¶#{bk} naming to ghcr.io/{org}/{proj}:{commit} done¶#{bk} DONE {s2}s
~""",
    "docker_push": """^The push refers to repository [ghcr.io/{org}/{proj}]
{hh}: Preparing
{hh}: Waiting
{hh}: Pushed
{hh}: Layer already exists
?{hh}: Retrying in {n} seconds
${commit}: digest: sha256:{sha} size: {big}""",
    "helm": """history.go:56: [debug] getting history for release {proj}
upgrade.go:{n}: [debug] preparing upgrade for {proj}
client.go:{n}: [debug] checking {n2} resources for changes
client.go:{n}: [debug] Looks like there are no changes for {Kind} "{proj}-{mod}"
client.go:{n}: [debug] Patch {Kind} "{proj}-{mod}" in namespace production
wait.go:{n}: [debug] beginning wait for {n2} resources with timeout of 5m0s
$Release "{proj}" has been upgraded. Happy Helming!
$NAME: {proj}
$NAMESPACE: production
$STATUS: deployed
$REVISION: {n}""",
    "kubectl": """{kind}/{proj}-{mod} configured
{kind}/{proj}-{mod} unchanged
{kind}/{proj}-{mod} created
Waiting for deployment "{proj}-{mod}" rollout to finish: {n} of 6 updated replicas are available...
Waiting for deployment "{proj}-{mod}" rollout to finish: 1 old replicas are pending termination...
deployment "{proj}-{mod}" successfully rolled out
?Warning: autoscaling/v2beta2 HorizontalPodAutoscaler is deprecated in v1.23+, unavailable in v1.26+; use autoscaling/v2 HorizontalPodAutoscaler
~""",
    "dotnet_restore": """^  Determining projects to restore...
  GET https://api.nuget.org/v3-flatcontainer/{nuget}/index.json¶  OK https://api.nuget.org/v3-flatcontainer/{nuget}/index.json {ms}ms
  Restored /home/runner/work/{proj}/{proj}/src/{Cls}/{Cls}.csproj (in {ms} ms).""",
    "dotnet_build": """^MSBuild version 17.9.6+a4ecab324 for .NET
  {Cls} -> /home/runner/work/{proj}/{proj}/src/{Cls}/bin/Release/net8.0/{Cls}.dll
?/home/runner/work/{proj}/{proj}/src/{Cls}/{Cls2}.cs({n},{n2}): warning CS8618: Non-nullable property '{Test}' must contain a non-null value when exiting constructor. Consider declaring the property as nullable. [/home/runner/work/{proj}/{proj}/src/{Cls}/{Cls}.csproj]
?/home/runner/work/{proj}/{proj}/src/{Cls}/{Cls2}.cs({n},{n2}): warning CS0618: '{Cls2}.{Test}()' is obsolete: 'Use {Test}Async instead' [/home/runner/work/{proj}/{proj}/src/{Cls}/{Cls}.csproj]
$
$Build succeeded.
$
$    {n} Warning(s)
$    0 Error(s)
$
$Time Elapsed 00:00:{n2}.{n3}""",
    "dotnet_test": """^Test run for /home/runner/work/{proj}/{proj}/tests/{Cls}.Tests/bin/Release/net8.0/{Cls}.Tests.dll (.NETCoreApp,Version=v8.0)
^Microsoft (R) Test Execution Command Line Tool Version 17.9.0 (x64)
^Copyright (c) Microsoft Corporation.  All rights reserved.
^
^Starting test execution, please wait...
^A total of 1 test files matched the specified pattern.
  {g}Passed{x} {Cls}.Tests.{Cls2}Tests.{Test} [{ms} ms]
  {g}Passed{x} {Cls}.Tests.{Cls2}Tests.{Test}(input: "{mod}") [{n} ms]
$
$Total tests: {big}
$     Passed: {big}
$ Total time: {s} Seconds
~""",
    "bundle": """^Fetching gem metadata from https://rubygems.org/..........
^Resolving dependencies...
Fetching {gem} {ver}
Installing {gem} {ver}
Installing {gem} {ver} with native extensions
Using {gem} {ver}
$Bundle complete! {n} Gemfile dependencies, {big} gems now installed.
$Bundled gems are installed into `./vendor/bundle`""",
    "rubocop": """$Inspecting {big} files
$..........................................................................
$
${big} files inspected, {g}no offenses{x} detected""",
    "rspec": """^
^Randomized with seed {big}
^
{Cls}¶  #{test}¶    {verb}s {noun}¶    {verb}s {noun2}
  when {noun}¶    {verb}s {noun2}
?DEPRECATION WARNING: Using legacy connection handling is deprecated. (called from block (2 levels) in <top (required)> at spec/{mod}_spec.rb:{n})
$
$Finished in {s} seconds (files took {s2} seconds to load)
${big} examples, 0 failures, {n} pending
~
~Finished in {s} seconds (files took {s2} seconds to load)""",
    "apt": """^Reading package lists...
^Building dependency tree...
^Reading state information...
^The following NEW packages will be installed:
^  {deb} {deb2} {deb3} {deb4}
^0 upgraded, {n} newly installed, 0 to remove and {n2} not upgraded.
^Need to get {kb} MB of archives.
^After this operation, {n3} MB of additional disk space will be used.
Get:{n} http://azure.archive.ubuntu.com/ubuntu jammy-updates/main amd64 {deb} amd64 {ver}-1ubuntu0.{n2} [{kb} kB]
Selecting previously unselected package {deb}:amd64.¶Preparing to unpack .../{deb}_{ver}_amd64.deb ...¶Unpacking {deb}:amd64 ({ver}) ...
Setting up {deb}:amd64 ({ver}) ...
?Processing triggers for man-db (2.10.2-1) ...
$Processing triggers for libc-bin (2.35-0ubuntu3.6) ...""",
    "cmake": """^-- The C compiler identification is GNU 11.4.0
^-- The CXX compiler identification is GNU 11.4.0
^-- Detecting C compiler ABI info
^-- Detecting C compiler ABI info - done
^-- Check for working C compiler: /usr/bin/cc - skipped
-- Looking for {mod}_{mod2}¶-- Looking for {mod}_{mod2} - found
-- Performing Test HAVE_{MOD}¶-- Performing Test HAVE_{MOD} - Success
-- Found {Cls}: /usr/lib/x86_64-linux-gnu/lib{mod}.so (found version "{ver}")
?CMake Deprecation Warning at CMakeLists.txt:1 (cmake_minimum_required):¶  Compatibility with CMake < 3.5 will be removed from a future version of¶  CMake.¶
$-- Configuring done (2.1s)
$-- Generating done (0.0s)
$-- Build files have been written to: /home/runner/work/{proj}/{proj}/build""",
    "ninja": """[{i}/{k}] Building CXX object src/CMakeFiles/{proj}.dir/{mod}/{mod2}.cpp.o
[{i}/{k}] Building C object third_party/CMakeFiles/{mod}.dir/{mod2}.c.o
[{i}/{k}] Linking CXX static library src/lib{proj}_{mod}.a
?/home/runner/work/{proj}/{proj}/src/{mod}/{mod2}.cpp:{n}:{n2}: warning: unused parameter 'ctx' [-Wunused-parameter]¶  {n} | void {mod}_{mod2}(Context& ctx) {¶      |                   ~~~~~~~~~^~~
$[{k}/{k}] Linking CXX executable bin/{proj}""",
    "ctest": """^Internal ctest changing into directory: /home/runner/work/{proj}/{proj}/build
^Test project /home/runner/work/{proj}/{proj}/build
      Start {i}: {mod}_{test}¶ {i}/{k} Test  #{i}: {mod}_{test} ....................   Passed    {s} sec
$
$Total Test time (real) = {s} sec
~
~Total Test time (real) = {s} sec""",
    "make_cc": """^make[1]: Entering directory '/home/runner/work/{proj}/{proj}/src'
cc -O2 -Wall -Wextra -g -Iinclude -c -o build/{mod}.o src/{mod}.c
gcc -O2 -Wall -fPIC -Iinclude -MMD -MP -c src/{mod}/{mod2}.c -o build/{mod}/{mod2}.o
ar rcs build/lib{mod}.a build/{mod}.o build/{mod2}.o
?src/{mod}.c: In function '{mod}_{mod2}':¶src/{mod}.c:{n}:{n2}: warning: unused variable 'tmp' [-Wunused-variable]¶  {n} |     int tmp = 0;¶      |         ^~~
$make[1]: Leaving directory '/home/runner/work/{proj}/{proj}/src'""",
    "shell": """^==> Running CI script ({commit})
==> {mod}: {big} files checked in {s}s
[{mod}] synced {n} objects ({kb} MiB)
+ ./scripts/ci/{mod}.sh --quiet
Using cache key {mod}-{hh}
{mod}: {n} items processed, {n2} skipped
  -> wrote dist/{mod}.json ({kb} KiB)
?Retrying in {n}s (attempt 2 of 3)...¶[{mod}] synced {n2} objects ({kb} MiB)
?{y}notice{x}: {mod} is deprecated and will be removed in v{n}.0
$==> done in {s}s
~""",
    "curl": """^  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current
^                                 Dload  Upload   Total   Spent    Left  Speed
100 {n}.{n2}M  100 {n}.{n2}M    0     0  {n3}.1M      0 --:--:-- --:--:-- --:--:-- {n3}.1M
--{day} {clock}--  https://downloads.{mod}.dev/{mod}/v{ver}/{mod}-linux-amd64.tar.gz¶Resolving downloads.{mod}.dev (downloads.{mod}.dev)... 140.82.{n}.{n2}¶Connecting to downloads.{mod}.dev (downloads.{mod}.dev)|140.82.{n}.{n2}|:443... connected.¶HTTP request sent, awaiting response... 200 OK¶Length: {big} ({kb}K) [application/octet-stream]¶Saving to: ‘{mod}-linux-amd64.tar.gz’¶¶     0K .......... .......... .......... .......... .......... {n3}% {kb} M 0s¶¶{day} {clock} ({kb} MB/s) - ‘{mod}-linux-amd64.tar.gz’ saved [{big}/{big}]¶
{mod}-linux-amd64.tar.gz: OK
?Retrying in {n} seconds (attempt 2 of 5)¶100 {n}.{n2}M  100 {n}.{n2}M    0     0  {n3}.1M      0 --:--:-- --:--:-- --:--:-- {n3}.1M
~""",
    "login": """+ echo "***" | docker login ghcr.io -u {user} --password-stdin¶WARNING! Your password will be stored unencrypted in /home/runner/.docker/config.json.¶Configure a credential helper to remove this warning. See¶https://docs.docker.com/engine/reference/commandline/login/#credential-stores¶¶Login Succeeded
+ aws sts get-caller-identity --query Account --output text¶{big}{big2}{n}
+ aws s3 sync dist/ s3://{proj}-artifacts/{commit}/ --only-show-errors¶upload: dist/{mod}.js to s3://{proj}-artifacts/{commit}/{mod}.js
npm notice 📦  @{org}/{proj}@{pver}¶npm notice === Tarball Contents ===¶npm notice {kb}kB dist/{mod}.js¶npm notice {kb}kB package.json
~""",
}
_TABLES: dict[str, dict[str, list[str]]] = {}
for _name, _raw in _T.items():
    _t = _TABLES[_name] = {k: [] for k in "^$~?b"}
    for _line in filter(None, _raw.split("\n")):
        _mark = _line[0] in "^$~?"
        _t[_line[0] if _mark else "b"].append(_line[1:] if _mark else _line)

# ecosystem: (tool, its version, setup action, the action's `with:`, container image, [(stage, command, table, weight)])
ECOSYSTEMS = {
    "node": ("node", "20.11.1", "actions/setup-node@v4", "node-version: 20.x|cache: npm", "node:20-bookworm",
             [("Install", "npm ci", "npm", 4), ("Build", "npm run build", "webpack", 2), ("Test", "npm test -- --ci", "jest", 4)]),
    "python": ("Python", "3.11.8", "actions/setup-python@v5", "python-version: 3.11|cache: pip", "python:3.11-slim",
               [("Install", "python -m pip install -r requirements.txt -r requirements-dev.txt", "pip", 4),
                ("Lint", "ruff check . && mypy src", "ruff", 0), ("Test", "python -m pytest -v", "pytest", 5)]),
    "jvm": ("Java_Temurin-Hotspot_jdk", "17.0.10-7", "actions/setup-java@v4", "distribution: temurin|java-version: 17|cache: maven",
            "maven:3.9-eclipse-temurin-17", [("Dependencies", "mvn -B dependency:go-offline", "mvn_deps", 5),
                                             ("Compile", "mvn -B compile", "mvn_compile", 1), ("Test", "mvn -B verify", "mvn_test", 3)]),
    "go": ("go", "1.22.1", "actions/setup-go@v5", "go-version: 1.22|cache: true", "golang:1.22",
           [("Download", "go mod download -x", "go_dl", 3), ("Build", "go build -v ./...", "go_build", 2),
            ("Test", "go test -v -race ./...", "go_test", 5)]),
    "rust": ("rust", "1.77.0", "dtolnay/rust-toolchain@stable", "toolchain: stable|components: clippy", "rust:1.77",
             [("Build", "cargo build --locked --all-targets", "cargo_build", 4), ("Test", "cargo test --locked --no-fail-fast", "cargo_test", 4)]),
    "docker": ("buildx", "0.13.1", "docker/setup-buildx-action@v3", "install: true", "docker:24-dind",
               [("Pull", "docker pull {bname}:{btag}", "docker_pull", 2), ("Build", "docker buildx build --progress=plain -t ghcr.io/{org}/{proj}:{commit} .", "buildkit", 6)]),
    "kubernetes": ("kubectl", "1.29.2", "azure/setup-kubectl@v4", "version: v1.29.2", "alpine/k8s:1.29.2",
                   [("Build", "docker build --progress=plain -t ghcr.io/{org}/{proj}:{commit} .", "buildkit", 5),
                    ("Push", "docker push ghcr.io/{org}/{proj}:{commit}", "docker_push", 2),
                    ("Helm", "helm upgrade --install {proj} ./chart -n production --debug --wait", "helm", 1),
                    ("Rollout", "kubectl apply -f k8s/ && kubectl rollout status deployment/{proj}-api --timeout=300s", "kubectl", 1)]),
    "dotnet": ("dotnet", "8.0.203", "actions/setup-dotnet@v4", "dotnet-version: 8.0.x", "mcr.microsoft.com/dotnet/sdk:8.0",
               [("Restore", "dotnet restore -v n", "dotnet_restore", 3), ("Build", "dotnet build --no-restore -c Release", "dotnet_build", 2),
                ("Test", 'dotnet test --no-build -c Release --logger "console;verbosity=normal"', "dotnet_test", 4)]),
    "ruby": ("Ruby", "3.3.0", "ruby/setup-ruby@v1", "ruby-version: 3.3|bundler-cache: true", "ruby:3.3",
             [("Install", "bundle install --jobs 4", "bundle", 4), ("Lint", "bundle exec rubocop", "rubocop", 0), ("Test", "bundle exec rspec", "rspec", 5)]),
    "cpp": ("cmake", "3.28.3", "lukka/get-cmake@latest", "cmakeVersion: 3.28.3", "gcc:13",
            [("Deps", "sudo apt-get install -y libssl-dev zlib1g-dev ninja-build", "apt", 2),
             ("Configure", "cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release", "cmake", 1),
             ("Build", "cmake --build build -j 4", "ninja", 4), ("Test", "ctest --test-dir build --output-on-failure -j 4", "ctest", 3)]),
    "runner": ("node", "20.11.1", "actions/setup-node@v4", "node-version: 20.x", "ubuntu:22.04",
               [("Setup", "sudo apt-get update && sudo apt-get install -y build-essential jq", "apt", 3),
                ("Build", "make -j2 all", "make_cc", 3), ("Test", "./scripts/ci/run-tests.sh", "shell", 3)]),
    "network": ("go", "1.22.1", "actions/setup-go@v5", "go-version: 1.22", "ubuntu:22.04",
                [("Deps", "sudo apt-get install -y curl ca-certificates", "apt", 2), ("Modules", "go mod download -x", "go_dl", 3),
                 ("Fetch", "./scripts/fetch-assets.sh", "curl", 3)]),
    "credentials": ("node", "20.11.1", "actions/setup-node@v4", "node-version: 20.x|registry-url: https://npm.pkg.github.com",
                    "node:20-bookworm", [("Install", "npm ci", "npm", 4), ("Build", "docker build --progress=plain -t ghcr.io/{org}/{proj}:{commit} .", "buildkit", 3),
                                         ("Publish", "./scripts/publish.sh", "login", 1)]),
}
_POOLS = {k: v.split() for k, v in {
    "npm": "react react-dom lodash axios express webpack babel-loader @babel/core typescript eslint jest ts-jest chalk commander debug semver minimatch uuid dotenv zod date-fns postcss",
    "py": "requests numpy pandas pydantic fastapi sqlalchemy httpx attrs click jinja2 pyyaml urllib3 certifi idna packaging pluggy iniconfig coverage mypy black typing-extensions anyio sniffio h11 starlette uvicorn",
    "jar": "org/springframework/spring-core com/fasterxml/jackson/core/jackson-databind org/apache/commons/commons-lang3 com/google/guava/guava org/junit/jupiter/junit-jupiter-api org/slf4j/slf4j-api ch/qos/logback/logback-classic org/mockito/mockito-core org/codehaus/plexus/plexus-utils",
    "gopkg": "github.com/stretchr/testify golang.org/x/sys golang.org/x/net google.golang.org/grpc github.com/spf13/cobra github.com/gin-gonic/gin go.uber.org/zap github.com/google/uuid gopkg.in/yaml.v3 github.com/prometheus/client_golang",
    "crate": "serde serde_json tokio syn quote proc-macro2 libc rand regex anyhow clap hyper bytes futures log tracing once_cell memchr itoa",
    "gem": "rails actionpack activerecord nokogiri puma rack rspec-core rubocop sidekiq pg redis bootsnap zeitwerk i18n concurrent-ruby tzinfo",
    "nuget": "microsoft.extensions.logging newtonsoft.json xunit moq serilog fluentassertions microsoft.net.test.sdk coverlet.collector npgsql automapper",
    "deb": "libssl-dev zlib1g-dev ca-certificates curl git pkg-config libpq5 ninja-build python3-minimal libcurl4 gnupg jq unzip",
    "mod": "auth billing cache config client parser router storage users format events search render metrics session schema export queue",
    "Cls": "UserService OrderRepository PaymentController ConfigLoader CacheManager TokenParser EventBus ReportBuilder InvoiceMapper",
    "verb": "render parse handle return load serialize merge resolve cache format", "param": "0 1 True False utf-8 empty large case3 py311",
    "noun": "empty_input config user request large_file unicode headers defaults nested_keys pagination",
    "kind": "deployment.apps service configmap secret ingress.networking.k8s.io serviceaccount poddisruptionbudget.policy",
    "Kind": "Deployment Service ConfigMap Ingress ServiceAccount HorizontalPodAutoscaler",
}.items()}
_ANSI = {"g": "\x1b[32m", "y": "\x1b[33m", "c": "\x1b[36m", "r": "\x1b[31m", "b": "\x1b[1m", "d": "\x1b[2m", "x": "\x1b[0m"}
_PH = re.compile(r"\{([A-Za-z]+)(\d*)\}")


class _Job:
    """One job's constants, its random source and its clock; `fill` expands a template."""

    def __init__(self, rng: random.Random, eco: str):
        self.rng, self.bk = rng, 3
        r = rng.randrange
        self.const = {"proj": rng.choice("orbit ledger pantry relay atlas quill harbor".split()) + rng.choice(["", "-api", "-web", "-core"]),
                      "org": rng.choice("acme northwind globex initech umbrella".split()), "user": "ci-bot",
                      "commit": f"{r(16 ** 7):07x}", "img": ECOSYSTEMS[eco][4]}
        self.const["bname"], self.const["btag"] = rng.choice([("node", "20-bookworm-slim"), ("python", "3.12-slim"), ("debian", "bookworm-slim")])
        self.const["pver"] = f"{r(1, 4)}.{r(40)}.{r(12)}"
        self.const["gomod"] = f"github.com/{self.const['org']}/{self.const['proj']}"
        self.start = datetime(2024, 1, 1) + timedelta(days=r(600), seconds=r(86400))
        self.const["day"] = f"{self.start:%Y-%m-%d}"

    def _gen(self, base: str, key: str, memo: dict, i: int, k: int) -> str:
        rng = self.rng
        if base in self.const:
            return self.const[base]
        if base in _ANSI:
            return _ANSI[base]
        if base in _POOLS:
            return rng.choice(_POOLS[base])
        f = {"n": lambda: str(rng.randint(2, 60)), "big": lambda: str(rng.randint(100, 2500)), "ms": lambda: str(rng.randint(8, 900)),
             "s": lambda: f"{rng.uniform(0.01, 9):.2f}", "kb": lambda: f"{rng.uniform(1, 900):.1f}",
             "ver": lambda: f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}", "pct": lambda: f"{100 * (i + 1) // k:3d}",
             "i": lambda: str(i + 1), "k": lambda: str(k), "h": lambda: f"{rng.getrandbits(28):07x}",
             "hh": lambda: f"{rng.getrandbits(48):012x}", "sha": lambda: f"{rng.getrandbits(256):064x}", "sp": lambda: " " * rng.randint(1, 30),
             "test": lambda: f"{rng.choice(_POOLS['verb'])}s_{rng.choice(_POOLS['noun'])}",
             "Test": lambda: rng.choice(_POOLS["verb"]).title() + rng.choice(_POOLS["noun"]).title().replace("_", ""),
             "MOD": lambda: rng.choice(_POOLS["mod"]).upper(), "clock": lambda: f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}",
             "date": lambda: f"{self.start:%Y-%m-%dT%H}:{rng.randrange(60):02d}:{rng.randrange(60):02d}.{rng.randrange(1000):03d}Z",
             "pylist": lambda: " ".join(rng.sample(_POOLS["py"], rng.randint(12, 26))),
             "pyvers": lambda: " ".join(f"{p}-{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}" for p in rng.sample(_POOLS["py"], rng.randint(12, 26))),
             "art": lambda: memo.setdefault("jar", rng.choice(_POOLS["jar"])).rsplit("/", 1)[1]}.get(base)
        if base == "el":  # seconds since a BuildKit step began: rising within one template
            memo["_el"] = memo.get("_el", rng.uniform(0.2, 2)) + rng.uniform(0.05, 3)
            return f"{memo['_el']:.2f}"
        if base == "bk":
            self.bk += 1
            return str(self.bk)
        if base == "bi":
            return str((int(memo.get("bk", self.bk)) - 4) % 11 + 2)
        return f() if f else "{" + key + "}"

    def fill(self, template: str, i: int = 0, k: int = 1) -> list[str]:
        memo: dict[str, str] = {}

        def rep(m: re.Match) -> str:
            key = m.group(1) + m.group(2)
            if key not in memo:
                memo[key] = self._gen(m.group(1), key, memo, i, k)
            return memo[key]

        return _PH.sub(rep, template).split("¶") if "{" in template else template.split("¶")

    def lines(self, table: str, part: str) -> list[str]:
        return [ln for t in _TABLES[table][part] for ln in self.fill(t)]

    def body(self, table: str, k: int) -> list[str]:
        t, out = _TABLES[table], []
        while len(out) < k and t["b"]:
            noise = t["?"] and self.rng.random() < 0.04
            out += self.fill(self.rng.choice(t["?"] if noise else t["b"]), len(out), k)
        return out[:k]



def _github_actions(job: _Job, eco: str):
    tool, tver, action, with_, _, _ = ECOSYSTEMS[eco]
    c, rng = job.const, job.rng
    repo, ws = f"{c['org']}/{c['proj']}", f"/home/runner/work/{c['proj']}/{c['proj']}"
    sha, tmp = f"{rng.getrandbits(160):040x}", job.fill("/home/runner/work/_temp/{hh}")[0]
    cache = f"{tool.lower()}-cache-Linux-x64-{rng.getrandbits(256):064x}"
    pre = [f"Current runner version: '2.{rng.randint(311, 321)}.{rng.randint(0, 3)}'", "Runner name: 'GitHub Actions 12'",
           "Runner group name: 'GitHub Actions'", f"Machine name: 'fv-az{rng.randint(100, 999)}-{rng.randint(100, 999)}'",
           "##[group]Operating System", "Ubuntu", "22.04.4", "LTS", "##[endgroup]", "##[group]Runner Image", "Image: ubuntu-22.04",
           "Version: 20240310.1.0", "Included Software: https://github.com/actions/runner-images/blob/ubuntu22/20240310.1/images/ubuntu/Ubuntu2204-Readme.md",
           "Image Release: https://github.com/actions/runner-images/releases/tag/ubuntu22%2F20240310.1", "##[endgroup]",
           "##[group]Runner Image Provisioner", "2.0.359.1", "##[endgroup]", "##[group]GITHUB_TOKEN Permissions", "Contents: read",
           "Metadata: read", "Packages: read", "##[endgroup]", "Secret source: Actions", "Prepare workflow directory",
           "Prepare all required actions", "Getting action download info",
           f"Download action repository 'actions/checkout@v4' (SHA:{rng.getrandbits(160):040x})",
           f"Download action repository '{action}' (SHA:{rng.getrandbits(160):040x})", "Complete job name: build",
           "##[group]Run actions/checkout@v4", "with:", f"  repository: {repo}", "  token: ***", "  ssh-strict: true",
           "  persist-credentials: true", "  clean: true", "  fetch-depth: 1", "  lfs: false", "  submodules: false", "##[endgroup]",
           f"Syncing repository: {repo}", "##[group]Getting Git version info", f"Working directory is '{ws}'",
           "[command]/usr/bin/git version", "git version 2.43.2", "##[endgroup]",
           f"Temporarily overriding HOME='{tmp}' before making global git config changes",
           "Adding repository directory to the temporary git global config as a safe directory",
           f"[command]/usr/bin/git config --global --add safe.directory {ws}", f"Deleting the contents of '{ws}'",
           "##[group]Initializing the repository", f"[command]/usr/bin/git init {ws}",
           "hint: Using 'master' as the name for the initial branch. This default branch name",
           "hint: is subject to change. To configure the initial branch name to use in all",
           f"Initialized empty Git repository in {ws}/.git/", f"[command]/usr/bin/git remote add origin https://github.com/{repo}",
           "##[endgroup]", "##[group]Disabling automatic garbage collection", "[command]/usr/bin/git config --local gc.auto 0",
           "##[endgroup]", "##[group]Fetching the repository",
           f"[command]/usr/bin/git -c protocol.version=2 fetch --no-tags --prune --no-recurse-submodules --depth=1 origin +{sha}:refs/remotes/origin/main",
           f"remote: Enumerating objects: {rng.randint(300, 3000)}, done.", "remote: Counting objects: 100% (812/812), done.",
           "remote: Compressing objects: 100% (640/640), done.", "remote: Total 812 (delta 151), reused 455 (delta 88), pack-reused 0",
           f"From https://github.com/{repo}", f" * [new ref]         {sha} -> origin/main", "##[endgroup]",
           "##[group]Checking out the ref", "[command]/usr/bin/git checkout --progress --force -B main refs/remotes/origin/main",
           "Switched to a new branch 'main'", "branch 'main' set up to track 'origin/main'.", "##[endgroup]",
           "[command]/usr/bin/git log -1 --format='%H'", f"'{sha}'", f"##[group]Run {action}", "with:",
           *("  " + w for w in with_.split("|")), "##[endgroup]", f"Found in cache @ /opt/hostedtoolcache/{tool}/{tver}/x64",
           f"Cache Size: ~{rng.randint(20, 400)} MB ({rng.randint(10 ** 7, 4 * 10 ** 8)} B)",
           f"[command]/usr/bin/tar -xf {tmp}/cache.tzst -P -C {ws} --use-compress-program unzstd",
           "Cache restored successfully", f"Cache restored from key: {cache}"]

    def head(stage, cmd):
        return [f"##[group]Run {cmd}", cmd, "shell: /usr/bin/bash -e {0}", "env:", "  CI: true", "  FORCE_COLOR: 1",
                f"  REGISTRY: ghcr.io/{c['org']}", "##[endgroup]"]

    end = ["##[error]Process completed with exit code 1.", "Post job cleanup.",
           f"Cache hit occurred on the primary key {cache}, not saving cache.", "Post job cleanup.",
           "[command]/usr/bin/git version", "git version 2.43.2", f"Temporarily overriding HOME='{tmp}' before making global git config changes",
           "[command]/usr/bin/git config --local --name-only --get-regexp core\\.sshCommand",
           "[command]/usr/bin/git submodule foreach --recursive sh -c \"git config --local --name-only --get-regexp 'core\\.sshCommand' && git config --local --unset-all 'core.sshCommand' || :\"",
           "[command]/usr/bin/git config --local --name-only --get-regexp http\\.https\\:\\/\\/github\\.com\\/\\.extraheader",
           "http.https://github.com/.extraheader", "[command]/usr/bin/git config --local --unset-all http.https://github.com/.extraheader",
           "Cleaning up orphan processes"]
    return pre, head, lambda stage: [], end


def _gitlab_ci(job: _Job, eco: str):
    c, rng = job.const, job.rng
    t = int(job.start.timestamp())
    host = f"runner-{job.fill('{h}')[0]}-project-{rng.randint(10 ** 6, 6 * 10 ** 7)}-concurrent-0"

    def sec(name, title=None, dt=0):
        nonlocal t
        t += dt
        if title is None:
            return f"section_end:{t}:{name}\r\x1b[0K"
        return f"section_start:{t}:{name}\r\x1b[0K\x1b[0K\x1b[36;1m{title}\x1b[0;m"

    pre = [f"\x1b[0KRunning with gitlab-runner 16.{rng.randint(5, 11)}.{rng.randint(0, 3)} ({job.fill('{h}')[0]}x)\x1b[0;m",
           f"\x1b[0K  on blue-{rng.randint(1, 6)}.saas-linux-small-amd64.runners-manager.gitlab.com/default {job.fill('{h}')[0]}, system ID: s_{job.fill('{hh}')[0]}\x1b[0;m",
           "\x1b[0K  feature flags: FF_USE_FASTZIP:true\x1b[0;m", sec("prepare_executor", 'Preparing the "docker+machine" executor'),
           f"\x1b[0KUsing Docker executor with image {c['img']} ...\x1b[0;m", f"\x1b[0KPulling docker image {c['img']} ...\x1b[0;m",
           f"\x1b[0KUsing docker image sha256:{rng.getrandbits(256):064x} for {c['img']} with digest {c['img'].split(':')[0]}@sha256:{rng.getrandbits(256):064x} ...\x1b[0;m",
           sec("prepare_executor", None, 14), sec("prepare_script", "Preparing environment"),
           f"Running on {host} via runner-{job.fill('{h}')[0]}-s-l-s-amd64-{t}-{job.fill('{h}')[0]}...",
           sec("prepare_script", None, 5), sec("get_sources", "Getting source from Git repository"),
           "\x1b[32;1mFetching changes with git depth set to 20...\x1b[0;m", f"Initialized empty Git repository in /builds/{c['org']}/{c['proj']}/.git/",
           "\x1b[32;1mCreated fresh repository.\x1b[0;m", f"\x1b[32;1mChecking out {c['commit']} as detached HEAD (ref is main)...\x1b[0;m",
           "\x1b[32;1mSkipping Git submodules setup\x1b[0;m", sec("get_sources", None, 3), sec("restore_cache", "Restoring cache"),
           "\x1b[32;1mChecking cache for default-protected...\x1b[0;m",
           f"Downloading cache from https://storage.googleapis.com/gitlab-com-runners-cache/project/{rng.randint(10 ** 6, 9 * 10 ** 6)}/default-protected\x1b[0;m  ETag=\"{job.fill('{sha}')[0][:32]}\"",
           "\x1b[32;1mSuccessfully extracted cache\x1b[0;m", sec("restore_cache", None, 9),
           sec("step_script", 'Executing "step_script" stage of the job script'),
           f"\x1b[0KUsing docker image sha256:{rng.getrandbits(256):064x} for {c['img']} ...\x1b[0;m"]
    end = [sec("step_script", None, 300), sec("upload_artifacts_on_failure", "Uploading artifacts for failed job"),
           "\x1b[32;1mUploading artifacts...\x1b[0;m", "junit.xml: found 1 matching artifact files and directories\x1b[0;m",
           f"Uploading artifacts as \"junit\" to coordinator... 201 Created\x1b[0;m  id={rng.randint(10 ** 9, 8 * 10 ** 9)} responseStatus=201 Created",
           sec("upload_artifacts_on_failure", None, 2), sec("cleanup_file_variables", "Cleaning up project directory and file based variables"),
           sec("cleanup_file_variables", None, 1), "\x1b[31;1mERROR: Job failed: exit code 1\x1b[0;m"]
    return pre, lambda stage, cmd: [f"\x1b[32;1m$ {cmd}\x1b[0;m"], lambda stage: [], end


def _jenkins(job: _Job, eco: str):
    c, rng = job.const, job.rng
    ws, url = f"/var/lib/jenkins/workspace/{c['proj']}_main", f"https://github.com/{c['org']}/{c['proj']}.git"
    sha = f"{rng.getrandbits(160):040x}"
    pre = [f"Started by GitHub push by {c['org']}-dev", f"Obtained Jenkinsfile from git {url}", "[Pipeline] Start of Pipeline",
           "[Pipeline] node", f"Running on agent-{rng.randint(1, 9)} in {ws}", "[Pipeline] {", "[Pipeline] stage",
           "[Pipeline] { (Declarative: Checkout SCM)", "[Pipeline] checkout", "The recommended git tool is: NONE",
           "using credential github-app", f" > git rev-parse --resolve-git-dir {ws}/.git # timeout=10",
           "Fetching changes from the remote Git repository", f" > git config remote.origin.url {url} # timeout=10",
           f"Fetching upstream changes from {url}", " > git --version # timeout=10", " > git --version # 'git version 2.39.2'",
           "using GIT_ASKPASS to set credentials GitHub App",
           f" > git fetch --tags --force --progress -- {url} +refs/heads/*:refs/remotes/origin/* # timeout=10",
           f"Checking out Revision {sha} (refs/remotes/origin/main)", " > git config core.sparsecheckout # timeout=10",
           f" > git checkout -f {sha} # timeout=10", "Commit message: \"Bump dependencies\"",
           f" > git rev-list --no-walk {rng.getrandbits(160):040x} # timeout=10", "[Pipeline] }", "[Pipeline] // stage",
           "[Pipeline] withEnv", "[Pipeline] {"]
    close = lambda stage: ["[Pipeline] }", "[Pipeline] // stage"]  # noqa: E731
    end = [*close(""), "[Pipeline] stage", "[Pipeline] { (Deploy)", 'Stage "Deploy" skipped due to earlier failure(s)',
           "[Pipeline] getContext", *close(""), "[Pipeline] stage", "[Pipeline] { (Declarative: Post Actions)", "[Pipeline] junit",
           "Recording test results", "[Checks API] No suitable checks publisher found.", "[Pipeline] cleanWs",
           "[WS-CLEANUP] Deleting project workspace...", "[WS-CLEANUP] Deferred wipeout is used...", "[WS-CLEANUP] done",
           *close(""), "[Pipeline] }", "[Pipeline] // withEnv", "[Pipeline] }", "[Pipeline] // node", "[Pipeline] End of Pipeline",
           "ERROR: script returned exit code 1", "Finished: FAILURE"]
    return pre, lambda stage, cmd: ["[Pipeline] stage", f"[Pipeline] {{ ({stage})", "[Pipeline] sh", f"+ {cmd}"], close, end


def _local(job: _Job, eco: str):
    return [], lambda stage, cmd: [f"$ {cmd}"], lambda stage: [], []


_DIALECT = {"github_actions": _github_actions, "gitlab_ci": _gitlab_ci, "jenkins": _jenkins, "local": _local}
# End-of-job lines a pasted snippet may already hold: the log goes on after the last of them the snippet has.
_END_MARK = re.compile(r"Process completed with exit code|Post job cleanup|Cleaning up orphan processes|Uploading artifacts for "
                       r"failed job|Cleaning up project directory|ERROR: Job failed|End of Pipeline|script returned exit code|Finished: FAILURE")


def _parse_ts(text: str) -> datetime:
    base = datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
    return base + timedelta(microseconds=int((text[20:] + "000000")[:6]))


def embed(snippet: str, dialect: str, ecosystem: str, seed: int, n_lines: int = 2000) -> tuple[str, tuple[int, int]]:
    """A full failed job's log of about `n_lines` lines with `snippet`'s lines verbatim near the end of its failing step,
    and the snippet's (first, last) 1-based line numbers in it."""
    snip = snippet.split("\n")
    if len(snip) > 1 and snip[-1] == "":
        snip.pop()
    if not any(s.strip() for s in snip):
        raise ValueError("empty snippet")
    rng = random.Random(seed)
    dialect = dialect if dialect in _DIALECT else "local"
    eco = ecosystem if ecosystem in ECOSYSTEMS else rng.choice(["node", "python", "go"])
    job = _Job(rng, eco)
    steps = [(stage, job.fill(cmd)[0], table, w) for stage, cmd, table, w in ECOSYSTEMS[eco][5]]
    pre, head, close, end = _DIALECT[dialect](job, eco)
    text = "\n".join(snip)
    # What the snippet already holds: its step's start (no header of ours), its failure end, the job's end lines.
    first = next(s for s in snip if s.strip())
    own_head = bool(_STEP_START[dialect].match(_BRACKET_TS.sub("", _GHA_TS.sub("", first))))
    marks = [j for j, line in enumerate(end) if (m := _END_MARK.search(line)) and m.group(0) in text]
    end = end[marks[-1] + 1:] if marks else end
    tail = [] if _STEP_FAILED.search(text) else job.lines(steps[-1][2], "~")
    tail = tail[:rng.randint(1, len(tail))] if tail else []

    parts: list = list(pre)
    for idx, (stage, cmd, table, _) in enumerate(steps):
        last = idx == len(steps) - 1
        if last and own_head:
            parts.append(None)
            break
        parts += head(stage, cmd) + job.lines(table, "^") + [idx]
        parts += [None] if last else job.lines(table, "$") + close(stage)
    parts += tail + end
    # The bodies share what the fixed lines leave of n_lines, by the steps' weights.
    room = max(0, n_lines - sum(isinstance(p, str) for p in parts) - len(snip))
    weights = [w if isinstance(i, int) and i in parts else 0 for i, (_, _, _, w) in enumerate(steps)]
    sizes = [room * w // max(1, sum(weights)) for w in weights]
    if sum(weights):
        sizes[max(i for i, w in enumerate(weights) if w)] += room - sum(sizes)
    lines: list[str] = []
    span = (0, 0)
    for p in parts:
        if p is None:
            span = (len(lines), len(lines) + len(snip))
            lines += snip
        elif isinstance(p, int):
            lines += job.body(steps[p][2], sizes[p])
        else:
            lines.append(p)
    _stamp(lines, span, dialect, snip, rng, job.start)
    return "\n".join(lines) + "\n", (span[0] + 1, span[1])


def _stamp(lines: list[str], span: tuple[int, int], dialect: str, snip: list[str], rng: random.Random, start: datetime) -> None:
    """Timestamps in place on the background lines: GitHub Actions always, else the style the snippet carries."""
    gha = [m.group(1) for s in snip if (m := _GHA_TS.match(s))]
    bracket = [m.group(1) for s in snip if (m := _BRACKET_TS.match(s))]
    if dialect != "github_actions" and not gha and not bracket:
        return
    style = "gha" if dialect == "github_actions" or gha else "bracket"
    known = gha if style == "gha" else bracket
    deltas = [0.0002 + rng.random() ** 6 * 8 for _ in lines]  # >= 200 us: the 7th digit never turns the clock back
    t = _parse_ts(known[0]) - timedelta(seconds=sum(deltas[:span[0]]) + 0.01) if known else start
    for j, line in enumerate(lines):
        if span[0] <= j < span[1]:
            if known and j == span[1] - 1:
                t = _parse_ts(known[-1])
            continue
        t += timedelta(seconds=deltas[j])
        frac = f"{t.microsecond:06d}"
        lines[j] = (f"{t:%Y-%m-%dT%H:%M:%S}.{frac}{rng.randrange(10)}Z {line}" if style == "gha"
                    else f"[{t:%Y-%m-%dT%H:%M:%S}.{frac[:3]}Z] {line}")
