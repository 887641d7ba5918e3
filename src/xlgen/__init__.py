"""xlgen: zero-shot cross-lingual transfer for text generation.

Adapt a multilingual pretrained model on task data in a source language, generate in target languages it never saw
task data for, and measure both task quality and whether the output is in the right language.
"""

__version__ = "0.1.0"
