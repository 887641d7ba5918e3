"""Full finetuning: every weight trains; the artifact is the whole model as a Hugging Face directory."""

from __future__ import annotations

from xlgen.adaptation.base import Method, register_method


@register_method("full")
class FullFinetuning(Method):
    saves_whole_model = True
    lr_refine = True  # the paper's 3x refinement, for full finetuning only

    def apply(self, model, family: str):
        for p in model.parameters():
            p.requires_grad_(True)
        return model

    def load(self, model, out, family: str):
        return model  # the artifact directory is itself the model
