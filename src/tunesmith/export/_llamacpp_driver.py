"""Run llama.cpp's convert_hf_to_gguf.py from a converter tree, standalone (tunesmith.export.llamacpp starts it with
`python -I`, so neither this folder nor the installed `gguf` package shadows the tree's own `gguf-py`).

usage: python -I _llamacpp_driver.py CONVERTER_DIR PRE_FALLBACK MODEL_DIR [convert_hf_to_gguf.py options]

The one change to the converter: when it does not recognise a BPE tokenizer's pre-tokenizer by its hash (it knows
published models' tokenizers, not a fine-tune's own or a test's tiny one), PRE_FALLBACK is used instead of failing;
"-" keeps the converter's refusal. The caller derives PRE_FALLBACK from the tokenizer's structure (or the base GGUF).
"""

import sys
from pathlib import Path


def main() -> None:
    root, pre, *args = sys.argv[1:]
    root = Path(root)
    sys.path[:0] = [str(root / "gguf-py"), str(root)]
    import conversion.base as base

    original = base.TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer) -> str:
        try:
            return original(self, tokenizer)
        except NotImplementedError:
            if pre == "-":
                raise
            base.logger.warning(f"tunesmith: pre-tokenizer not recognised by hash; using {pre!r} (from its structure)")
            return pre

    base.TextModel.get_vocab_base_pre = get_vocab_base_pre
    import convert_hf_to_gguf

    sys.argv = [str(root / "convert_hf_to_gguf.py"), *args]
    convert_hf_to_gguf.main()


if __name__ == "__main__":
    main()
