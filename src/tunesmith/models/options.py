"""The `--endpoint` options, defined once for every command that can ask a model server instead of loading a model:
`tunesmith analyze`, `ci-report`, `eval` and `compare` (`tunesmith.models.remote` does the asking)."""

from __future__ import annotations

import typer

from tunesmith.models.remote import DEFAULT_TIMEOUT, ENV_KEY, EndpointError, RemoteGenerator, key_from_env

__all__ = ["API_KEY_ENV", "ENDPOINT", "MODEL", "TIMEOUT", "endpoint_error", "remote_generator"]

ENDPOINT = typer.Option(
    None, "--endpoint", metavar="URL", show_default=False,
    help="An OpenAI-compatible server that answers instead of a model loaded here: Ollama (http://127.0.0.1:11434), "
         "llama.cpp's server, vLLM, `tunesmith serve`. Only the prompts go there (for a log: its redacted excerpt).")
MODEL = typer.Option(
    None, "--model", metavar="NAME", show_default=False,
    help="The model to ask --endpoint for (default: the one model it lists at /v1/models).")
API_KEY_ENV = typer.Option(
    ENV_KEY, "--api-key-env", metavar="NAME",
    help="The environment variable holding --endpoint's API key, sent as `Authorization: Bearer` (unset: no key). "
         "OPENAI_API_KEY is read only when named here, so a key meant for one service never goes to another.")
TIMEOUT = typer.Option(DEFAULT_TIMEOUT, "--timeout", min=1.0, help="Seconds to wait for one answer from --endpoint.")


def remote_generator(endpoint: str, model: str | None, api_key_env: str | None, timeout: float = DEFAULT_TIMEOUT,
                     system_prompt: str | None = None) -> RemoteGenerator:
    """A RemoteGenerator from the options; a malformed URL exits with a one-line error."""
    try:
        return RemoteGenerator(endpoint, api_key=key_from_env(api_key_env), model=model, system_prompt=system_prompt,
                               timeout=timeout)
    except EndpointError as e:
        raise endpoint_error(e, api_key_env) from None


def endpoint_error(e: EndpointError, api_key_env: str | None = None) -> typer.Exit:
    """Print the error as one line on stderr (no traceback) and return the Exit(1) to raise."""
    message = str(e)
    if e.status in (401, 403) and api_key_env:
        state = "is set" if key_from_env(api_key_env) else "is not set"
        message += f" (the key is read from ${api_key_env}, which {state}; --api-key-env NAME reads another variable)"
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)
