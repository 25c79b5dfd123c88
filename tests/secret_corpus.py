"""Planted secrets, one or more of every kind `tunesmith.logs.redact` knows, each in a realistic log line.

Shared by the secrets sweep (tests/test_secrets_sweep.py) and the redactor fuzz test (tests/test_fuzz.py). Secrets are
built by concatenation so this file does not itself look like a leak to scanners. Each value is unique to this corpus
(a sweep that finds it anywhere found a leak, never a coincidence).
"""

from __future__ import annotations

PEM_BODY = "MIIEowIBAAKCAQEAtunesmithSweepPemBodyZ9y8X7w6V5u4T3s2R1q0P9o8N7m6"
PEM = "-----BEGIN RSA PRIVATE KEY-----\n" + PEM_BODY + "\nq0jT2nQ8eZ5Hb7oVn1fXr3k2Lw9yJ0TgYbQ4mNaZ8cE1rUs7xIvPd6Wq3Ff0Ae\n-----END RSA PRIVATE KEY-----"

# kind -> [(secret that must vanish, line or lines it is planted in)]
SECRETS: dict[str, list[tuple[str, str]]] = {
    "private_key": [(PEM_BODY, "deploy key follows:\n" + PEM)],
    "aws_access_key": [("AKIA" + "TSMSWEEPAAAA2222", "Using credentials AKIA" + "TSMSWEEPAAAA2222 from the environment")],
    "gcp_api_key": [("AIza" + "SyTunesmithSweep-0123456789abcdefgh", "Maps call failed for AIza" + "SyTunesmithSweep-0123456789abcdefgh quota")],
    "gcp_oauth_token": [("ya29." + "a0TunesmithSweepTokenValue0123", "gcloud auth: ya29." + "a0TunesmithSweepTokenValue0123 expired")],
    "azure_key": [("VHVuZXNtaXRoU3dlZXBLZXk" + "xMjM0NTY3ODkwYWJj==",
                   "conn=DefaultEndpointsProtocol=https;AccountName=a;AccountKey=VHVuZXNtaXRoU3dlZXBLZXk" + "xMjM0NTY3ODkwYWJj==;EndpointSuffix=x")],
    "azure_sas": [("TunesmithSweepSasSig0123456789abcdef" + "%3D",
                   "GET https://acct.blob.core.windows.net/c/b?sv=2020&sp=r&sig=TunesmithSweepSasSig0123456789abcdef" + "%3D 403")],
    "azure_client_secret": [("abc8Q~" + "TunesmithSweepClientSecret01234567",
                             "AZURE_CLIENT_SECRET_VALUE abc8Q~" + "TunesmithSweepClientSecret01234567 rejected")],
    "github_token": [("ghp_" + "TunesmithSweepGithub0123456789abcdef",
                      "fatal: could not read from https://x-access-token:ghp_" + "TunesmithSweepGithub0123456789abcdef@github.com/o/r"),
                     ("github_pat_" + "11TunesmithSweep0123456789_abcdefghijKLMNOPQRSTuvwxyz0123456789ABCDEFGHIJKLMN",
                      "gh auth login with github_pat_" + "11TunesmithSweep0123456789_abcdefghijKLMNOPQRSTuvwxyz0123456789ABCDEFGHIJKLMN failed")],
    "gitlab_token": [("glpat-" + "TunesmithSweepGitlab01", "Setting CI token glpat-" + "TunesmithSweepGitlab01 for the registry")],
    "npm_token": [("npm_" + "TunesmithSweepNpm0123456789abcdefghi", "npm publish: E403 for npm_" + "TunesmithSweepNpm0123456789abcdefghi in .npmrc")],
    "pypi_token": [("pypi-" + "AgEIcHlwaS5vcmcTunesmithSweepPypiToken0123456789abcdefghijkl",
                    "twine upload -u __token__ -p pypi-" + "AgEIcHlwaS5vcmcTunesmithSweepPypiToken0123456789abcdefghijkl dist/*")],
    "slack_token": [("xoxb-" + "1234567890-TunesmithSweepSlack", "Posting to Slack with xoxb-" + "1234567890-TunesmithSweepSlack")],
    "slack_webhook": [("https://hooks.slack.com/services/" + "T000SWEEP/B000SWEEP/TunesmithSweepHook01",
                       "notify: POST https://hooks.slack.com/services/" + "T000SWEEP/B000SWEEP/TunesmithSweepHook01 -> 404")],
    "jwt": [("eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiJ0dW5lc21pdGhTd2VlcCJ9.TunesmithSweepJwtSignature01",
             "> cookie session=eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiJ0dW5lc21pdGhTd2VlcCJ9.TunesmithSweepJwtSignature01")],
    "url_password": [("SweepUrlPass77", "Cloning https://deploy:SweepUrlPass77@git.example.com/repo.git into 'repo'")],
    "authorization": [("SweepAuthBasic77", "curl -H 'Authorization: Basic SweepAuthBasic77' https://api.example.com")],
    "bearer_token": [("SweepBearerValue0123", "request sent with bearer SweepBearerValue0123 and failed")],
    "secret_assignment": [("SweepAssignEq77", "DB_PASSWORD=SweepAssignEq77 python manage.py migrate"),
                          ("SweepAssignColon77", "  client_secret: SweepAssignColon77")],
    "secret_flag": [("SweepFlagLong77", "mysql --user=root --password=SweepFlagLong77 -e 'select 1'"),
                    ("SweepFlagDocker77", "docker login -p SweepFlagDocker77 registry.example.com"),
                    ("SweepFlagMysql77", "mysqldump -u root -pSweepFlagMysql77 db"),
                    ("SweepFlagCurl77", "curl -u admin:SweepFlagCurl77 https://example.com")],
    "high_entropy": [("Xk9fQ2mZr7Lp" + "T4vWb8NcY1sHd6Ge3Ja5Ku0", "Generated signing nonce Xk9fQ2mZr7Lp" + "T4vWb8NcY1sHd6Ge3Ja5Ku0 for upload")],
}

ALL = [(kind, secret, line) for kind, items in SECRETS.items() for secret, line in items]
VALUES = [secret for _, secret, _ in ALL]


def planted_log(header: str = "") -> str:
    """A failing CI log with every planted line, and failure cues around them so a distiller keeps them."""
    out = [header] if header else []
    for i, (_, _, line) in enumerate(ALL):
        out += [f"$ ./deploy.sh step {i}", line, f"ERROR: step {i} failed: {line.splitlines()[-1]}"]
    out += ["npm ERR! code E401", "Error: Process completed with exit code 1."]
    return "\n".join(out) + "\n"


def leaks(text: str) -> list[str]:
    """The planted secrets (or, for a private key, its body) found in `text`."""
    return [s for s in VALUES if s in text]


__all__ = ["ALL", "PEM", "SECRETS", "VALUES", "leaks", "planted_log"]
