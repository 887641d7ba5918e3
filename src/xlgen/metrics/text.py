"""Language-code and script helpers shared by the metrics.

Every metric has to decide per language how to cut text into tokens, and users write language codes in many forms
(`zh-Hans`, `zho_Hans`, `arb`, `EN`); both decisions live here so SQuAD F1 and ROUGE agree on them.
"""

from __future__ import annotations

import functools

import langcodes

# Scripts written without spaces between words. Their letters cannot be grouped into words without a segmenter, so
# each character (with the combining marks that follow it) counts as one token, as MLQA does for Chinese.
# Script_Extensions (scx) rather than Script, so that the kana length mark "ー" and the iteration mark "々" (script
# Common/Han, used only inside Japanese/Chinese words) are split like the kana and Han characters around them.
# Intersecting with letters/marks/numbers keeps CJK punctuation such as "、" out (it has scx=Han too).
SPACELESS_CHAR = (
    r"[[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Thai}\p{scx=Lao}\p{scx=Khmer}\p{scx=Myanmar}]"
    r"&&[\p{L}\p{M}\p{N}]]"
)


@functools.lru_cache(maxsize=None)
def base_language(lang: str) -> str:
    """Reduce a language tag to its language subtag, so rules keyed by 'zh' also apply to 'zh-Hans' or 'zho_Hans'.

    `macro=True` folds individual languages into their macrolanguage ('arb' -> 'ar', 'cmn' -> 'zh'), the codes the
    per-language rules are written for. A tag langcodes cannot parse is still reduced by hand instead of raising:
    metrics fall back to language-neutral rules for languages they do not know.
    """
    try:
        tag = langcodes.standardize_tag(lang, macro=True)
    except (langcodes.LanguageTagError, ValueError):
        tag = lang.strip().replace("_", "-").lower()
    return tag.split("-")[0].lower()
