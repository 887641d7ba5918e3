"""Script guard: tokens with a character that cannot occur in the target language's writing systems are masked.

Which scripts a language is written in comes from CLDR's likely-subtags data through `langcodes` (already a
dependency: `ru` → Cyrl, `zh` → Hans, `ja` → Jpan; an explicit script in the tag wins: `sr-Latn`, `zh-Hant`). Which
script a character belongs to comes from the Unicode Character Database through the `regex` module's Script and
Script_Extensions properties, kept current with each Unicode release. We chose these two over CLDR exemplar sets
(`babel`, `icu`): exemplar sets list a language's usual letters and would mask legitimate loanwords, names and rare
letters, while a script is the coarsest property that still separates English from Russian, Chinese or Thai; and
`regex` installs from a wheel everywhere, unlike PyICU. Characters of the Common and Inherited scripts (digits,
punctuation, symbols, spaces, combining marks) are allowed for every language, and Script_Extensions admits the
characters shared by a few scripts (the Japanese prolonged sound mark, Arabic-Indic digits...).

The guard cannot help where the wrong language shares the target's script (English answers for German, Spanish or
Vietnamese targets): it is the cheap half of a composition such as `script+prior` or `span+script`.
"""

from __future__ import annotations

import langcodes
import numpy as np
import regex
import torch

from xlgen.errors import XlgenError
from xlgen.guards.base import Guard, MaskProcessor, register_guard
from xlgen.guards.vocab import Vocab

# ISO 15924 codes that name a combination of Unicode scripts (Unicode's Script property knows only the parts).
COMPOSITE_SCRIPTS = {
    "Hans": ("Hani",),
    "Hant": ("Hani",),
    "Hanb": ("Hani", "Bopo"),
    "Jpan": ("Hani", "Hira", "Kana"),
    "Kore": ("Hang", "Hani"),
}


def language_scripts(lang: str) -> tuple[str, ...]:
    """Unicode script codes a language is written in (its explicit script subtag, else CLDR's likely script)."""
    try:
        tag = langcodes.Language.get(lang)
        script = tag.script or tag.maximize().script
    except (langcodes.LanguageTagError, ValueError):
        raise XlgenError(f"generate.guard script: unknown language code {lang!r}") from None
    if not script or tag.language in (None, "und"):
        raise XlgenError(f"generate.guard script: no script known for language {lang!r}")
    return COMPOSITE_SCRIPTS.get(script, (script,))


def allowed_characters(scripts: tuple[str, ...]) -> regex.Pattern:
    classes = "".join(rf"\p{{scx={s}}}" for s in scripts)
    try:
        return regex.compile(rf"[\p{{sc=Zyyy}}\p{{sc=Zinh}}{classes}]")
    except regex.error:
        raise XlgenError(f"generate.guard script: the regex module knows no Unicode script among {scripts}") from None


def script_mask(vocab: Vocab, scripts: tuple[str, ...]) -> np.ndarray:
    """Boolean (vocab size,): True where every character of the token may occur in `scripts`. Tokens without text
    (special, byte pieces) stay allowed: the guard says nothing about them.

    Vectorised over the whole vocabulary: each distinct character is classified once (a 262k vocabulary has tens of
    thousands of distinct characters among millions), then a bincount over the tokens' characters finds the tokens
    holding a disallowed one. Cached on the Vocab per script set.
    """
    key = ("script", scripts)
    if key not in vocab.cache:
        cps, owner = vocab.codepoints()
        distinct, inverse = np.unique(cps, return_inverse=True)
        pattern = allowed_characters(scripts)
        ok = np.fromiter((pattern.fullmatch(chr(c)) is not None for c in distinct), dtype=bool, count=len(distinct))
        bad_chars = ~ok[inverse]
        vocab.cache[key] = np.bincount(owner[bad_chars], minlength=vocab.size) == 0
    return vocab.cache[key]


@register_guard("script")
class ScriptGuard(Guard):
    stage = 1

    @classmethod
    def check(cls, options, task, target_lang):
        allowed_characters(language_scripts(target_lang))

    def __init__(self, ctx):
        super().__init__(ctx)
        self.scripts = language_scripts(ctx.target_lang)
        self.allowed = torch.from_numpy(script_mask(ctx.vocab, self.scripts))
        self.allowed_ids = self.allowed.nonzero().flatten()

    def processor(self, examples, rows_per_example):
        return MaskProcessor(self.ctx, lambda gen, rows, batch: self.allowed_ids)

    def vocabulary(self, examples):
        return self.allowed
