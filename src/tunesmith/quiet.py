"""Library noise a user cannot act on, silenced once for every command: a user sees tunesmith's messages and real problems.

Each entry names the library, what it says and why it says nothing to a tunesmith user. Call `quiet()` before the
libraries are imported (the top-level CLI does, for every verb); the fixes that belong in tunesmith's own calls are made
there instead (e.g. generate() passes its cache under the name transformers asks for).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

__all__ = ["quiet"]


def quiet() -> None:
    # bitsandbytes (PEFT imports it whenever it is installed) tries, on import, to fetch a CPU 4-bit kernel from the
    # Hugging Face hub and logs "Failed to load CPU gemm_4bit_forward from kernels-community" when it may not; it then
    # uses its own kernel, and tunesmith never downloads from a hub.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    # PEFT reads model.is_gradient_checkpointing, which transformers 5 deprecated: PEFT's call to change, not the user's.
    warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    # transformers' "Loading weights" bar: the bundled models load in about a second, and in a pipe or CI log the bar
    # is a line of control characters. tunesmith shows its own progress where work is long.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # Plain tqdm bars (transformers' "Converting and de-quantizing GGUF tensors..." on export and on the first load of
    # a GGUF base): off a terminal each is a line of carriage returns. tqdm reads TQDM_* when it is imported.
    if not sys.stderr.isatty():
        os.environ.setdefault("TQDM_DISABLE", "1")
    if "transformers" in sys.modules:  # imported already (a test, a notebook): the variable was read at its import
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
