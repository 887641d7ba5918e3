"""The transfer-language study (arXiv 2403.20088): which languages help which.

`config` (the study file), `runner` (the driver), `cells` (one measurement each), `leakage` (raw text never holds
evaluation sentences), `pretraining_languages` (seen vs unseen), `report` (matrix, findings, heatmaps, interference).
"""
