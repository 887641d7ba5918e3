"""Data translation: the paper's translate-train / translate-test baselines and translated outputs (Tables 2, 3).

`splitter` (sentences in every script), `base` (translator interface and registry), `hf` (any Hugging Face MT model
or prompted LM), `parallel` (lookups in parallel corpora), `cache` (content-addressed SQLite store), `qa_align`
(answer spans in translated paragraphs), `dataset` (`xlgen translate`).
"""

from xlgen.translate.base import TRANSLATORS, Translator, Unit, make_translator, register_translator

__all__ = ["TRANSLATORS", "Translator", "Unit", "make_translator", "register_translator"]
