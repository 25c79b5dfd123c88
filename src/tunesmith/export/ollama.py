"""An Ollama model dir: the checked GGUF plus a `Modelfile` whose TEMPLATE is the run's chat template in Go syntax.

The chat template is recognised by what it renders, not by its source text: it is run on probe conversations and
must produce exactly ChatML. Templates that render anything else are refused rather than guessed at.
"""

from __future__ import annotations

from pathlib import Path

from tunesmith.export.artifact import ExportError
from tunesmith.export.gguf import GGUF_NAME, check_exportable, export_gguf, model_config
from tunesmith.export.source import Run
from tunesmith.models.loader import end_of_turn_tokens

MODELFILE = "Modelfile"

# ChatML in Ollama's Go template language. System prompts arrive as .System (Ollama collects them from the messages),
# so only user/assistant turns are rendered in the loop. A trailing assistant turn is left open (a prefill), and the
# generation prompt is added after a user turn, as transformers' `add_generation_prompt=True` does.
CHATML_TEMPLATE = """{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ .Content }}{{ if not $last }}<|im_end|>
{{ end }}
{{- end }}
{{- if and $last (ne .Role "assistant") }}<|im_start|>assistant
{{ end }}
{{- end }}"""


def _chatml(messages: list[dict], generation_prompt: bool) -> str:
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return text + ("<|im_start|>assistant\n" if generation_prompt else "")


def chatml_default_system(tokenizer) -> str | None:
    """Check that the tokenizer's chat template renders ChatML. Returns the system prompt the template inserts when
    a conversation has none (SmolLM2's "You are a helpful AI assistant named SmolLM...") or None; raises otherwise."""
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        raise ExportError("the run's tokenizer has no chat template; there is nothing to translate into a Modelfile TEMPLATE")
    full = [
        {"role": "system", "content": "S1"},
        {"role": "user", "content": "U1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "U2"},
    ]
    try:
        got = tokenizer.apply_chat_template(full, tokenize=False, add_generation_prompt=True)
        bare = tokenizer.apply_chat_template(full[1:2], tokenize=False, add_generation_prompt=True)
    except Exception as e:  # a template may raise on roles it does not support (e.g. no system role)
        raise ExportError(f"the chat template failed on a system/user/assistant conversation: {e}") from e
    if got != _chatml(full, True):
        raise ExportError(
            "the chat template is not ChatML (<|im_start|>/<|im_end|>); tunesmith can only translate ChatML into an "
            "Ollama TEMPLATE. Export --format gguf (the file carries the chat template for llama.cpp) and write the "
            f"Modelfile TEMPLATE by hand. The template rendered: {got[:200]!r}"
        )
    user_part = _chatml(full[1:2], True)
    if bare == user_part:
        return None
    head = bare[: -len(user_part)] if bare.endswith(user_part) else ""
    prefix, suffix = "<|im_start|>system\n", "<|im_end|>\n"
    if head.startswith(prefix) and head.endswith(suffix):
        return head[len(prefix) : -len(suffix)]
    raise ExportError(f"the chat template adds text Ollama's ChatML TEMPLATE cannot reproduce: {bare[:200]!r}")


def _quote(text: str) -> str:
    if '"""' in text:
        raise ExportError('the system prompt contains """, which a Modelfile cannot quote')
    return f'"""{text}"""'


def modelfile(tokenizer, system_prompt: str | None, *, source: str = "") -> str:
    """The Modelfile text for a ChatML model whose GGUF sits next to it as `model.gguf`."""
    default_system = chatml_default_system(tokenizer)
    system = system_prompt or default_system
    stops = list(dict.fromkeys([*end_of_turn_tokens(tokenizer), "<|im_start|>"]))
    lines = [f"# Written by `tunesmith export`{' from ' + source if source else ''}.", f"FROM ./{GGUF_NAME}", ""]
    lines.append(f'TEMPLATE """{CHATML_TEMPLATE}"""')
    if system:
        # The run trained with this system prompt (or the base template always inserts it): Ollama must send it too.
        lines.append(f"SYSTEM {_quote(system)}")
    lines.append("")
    lines += [f'PARAMETER stop "{s}"' for s in stops]
    # tunesmith evaluates with greedy decoding; temperature 0 makes Ollama answer the way the reported figures were measured.
    lines.append("PARAMETER temperature 0")
    return "\n".join(lines) + "\n"


def export_ollama(run: Run, target: Path, *, quant: str | None = None) -> dict:
    """`model.gguf` (round-trip checked) + `Modelfile`; `ollama create NAME -f Modelfile` in that dir imports it."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(run.model_dir)
    # Translate the template first: refusing costs nothing, while the GGUF export loads and checks the whole model.
    try:
        text = modelfile(tokenizer, run.system_prompt, source=str(run.root))
        check_exportable(model_config(run))
    except ExportError as e:
        from tunesmith.models.families import family_name

        if str(e).startswith("export gguf is refused"):
            raise
        raise ExportError(f"export ollama is refused for {family_name(model_config(run))}: {e}") from e
    info = export_gguf(run, target, quant=quant)
    path = Path(target) / MODELFILE
    path.write_text(text, encoding="utf-8")
    return {**info, "modelfile": MODELFILE}


__all__ = ["MODELFILE", "CHATML_TEMPLATE", "chatml_default_system", "modelfile", "export_ollama"]
