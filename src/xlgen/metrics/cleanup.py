"""Removal of pretraining rudiments from generated text before it is scored.

Models adapted on little data still emit tokens from their pretraining objective or tokenizer: mT5 sentinels
(`<extra_id_0>`), mBART separators and language codes (`<sep>`, `en_XX`), NLLB / M2M-100 / Marian language tokens
(`eng_Latn`, `__en__`, `>>fra<<`) and special tokens (`</s>`, `<pad>`, `<end_of_turn>`). They are not content, and
left in they would lower ROUGE/F1 and confuse language ID, so they are removed first. Tokenizer decoding with
`skip_special_tokens` misses some of them (language codes are often ordinary vocabulary entries), hence the patterns.
Each backbone family declares the patterns of its rudiments (`rudiments`, xlgen.backbones); outputs are cleaned of
every family's, whichever model (or outside system) wrote them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

# Special tokens of common seq2seq and decoder-only tokenizers, removed even when the caller does not pass them.
SPECIAL_TOKENS = (
    "<pad>", "</s>", "<s>", "<unk>", "<eos>", "<bos>", "<sep>", "<mask>", "<cls>",
    "<start_of_turn>", "<end_of_turn>",
)


@functools.lru_cache(maxsize=64)
def _pattern(extra: tuple[str, ...]) -> re.Pattern[str]:
    # Each family's patterns are specific enough that ordinary text survives (tests check snake_case identifiers,
    # ordinary uppercase words and Python dunders in code).
    from xlgen.backbones import all_rudiments

    literals = sorted(set(SPECIAL_TOKENS) | set(extra), key=len, reverse=True)  # longest first: "<s>" inside "</s>"
    return re.compile("|".join([*all_rudiments(), *map(re.escape, literals)]))


def remove_rudiments(text: str, extra: Iterable[str] = ()) -> str:
    """Text without pretraining rudiments, whitespace collapsed to single spaces.

    `extra` adds literal strings, normally the model tokenizer's own special tokens. Each removed token becomes a
    space, not nothing, so words it separated are not glued together.
    """
    literals = tuple(sorted({token for token in extra if token.strip()}))  # an empty literal would match everywhere
    return " ".join(_pattern(literals).sub(" ", text).split())
