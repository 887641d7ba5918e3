"""What the study driver tells the protocol about a run, shared by the driver and the report (which replays it)."""

from __future__ import annotations

from xlgen.errors import XlgenError
from xlgen.study.protocol import ProtocolConfig, RunKey, RunOutcome, outcome_from_metrics


def protocol_config_for(study: dict) -> ProtocolConfig:
    """As the runner builds it: without intermediate tuning configured, the protocol searches without IT only."""
    cfg = ProtocolConfig.from_dict(study.get("protocol") or {})
    if not study.get("intermediate"):
        cfg.use_it_options = [False]
    return cfg


def outcome_for(key: RunKey, results: dict | None, protocol_cfg: ProtocolConfig, source_languages, error: str | None = None) -> RunOutcome:
    """The outcome the driver tells the protocol for a run (runner.Study.outcome, as a plain function): selection on
    the last validation metrics, on test metrics when the run had no validation set, failed when neither exists."""
    if results is None:
        return RunOutcome(key=key, status="failed", error=error)
    per_lang = results.get("dev_last") or results.get("test") or {}
    if not per_lang:
        return RunOutcome(key=key, status="failed", error="the run has no validation or test metrics")
    try:
        return outcome_from_metrics(key, per_lang, protocol_cfg, primary=results.get("primary_metric"), source_langs=tuple(source_languages))
    except XlgenError as e:
        return RunOutcome(key=key, status="failed", error=str(e))
