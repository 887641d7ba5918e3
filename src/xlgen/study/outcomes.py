"""What the study driver tells the protocol, shared by the driver and the report (which replays it): the protocol for a
study (its config and each method's LR role) and the outcome of a run."""

from __future__ import annotations

from pathlib import Path

from xlgen.errors import XlgenError
from xlgen.study.protocol import LRProtocol, LRRole, ProtocolConfig, RunKey, RunOutcome, outcome_from_metrics

# Overrides that make a study method a data strategy on top of an adaptation method (mixing-in, several sources).
_DATA_STRATEGY = ("data.mix", "data.train", "data.source_sampling")


def protocol_config_for(study: dict) -> ProtocolConfig:
    """As the runner builds it: without intermediate tuning configured, the protocol searches without IT only."""
    cfg = ProtocolConfig.from_dict(study.get("protocol") or {})
    if not study.get("intermediate"):
        cfg.use_it_options = [False]
    return cfg


def _flat(mapping: dict, prefix: str = "") -> dict:
    """Dotted keys of a study's override mapping, whether written dotted (`adaptation.method`) or nested."""
    out = {}
    for k, v in (mapping or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and not key.startswith(_DATA_STRATEGY):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def _default_adaptation(study: dict) -> str:
    """The adaptation method of a study method entry that names none: the study's overrides', else its base config's."""
    over = _flat(study.get("overrides") or {}).get("adaptation.method")
    if over:
        return over
    base = study.get("base")
    if base and Path(base).is_file():
        from xlgen.config import load_yaml

        return _flat(load_yaml(base)).get("adaptation.method") or "full"
    return "full"


def method_roles(study: dict) -> dict[str, LRRole]:
    """Each study method's role in the LR protocol, as its adaptation method declares it (`lr_refine`, `lr_from`).

    A study method that adds a data strategy (`data.mix`, several sources in `data.train`) to an adaptation method
    takes the PLR of that method without the strategy, as the paper does for mixing-in and multi-source training on
    top of full finetuning. A source that is not itself one of the study's methods is searched under the adaptation
    method's name (the runner runs it with that method's defaults)."""
    from xlgen.adaptation import METHODS

    default = _default_adaptation(study)
    entries = {name: _flat(entry) for name, entry in study["methods"].items()}
    adaptation = {name: e.get("adaptation.method", default) for name, e in entries.items()}
    strategy = {name: any(k.startswith(_DATA_STRATEGY) for k in e) for name, e in entries.items()}
    plain: dict[str, str] = {}  # adaptation method -> the study method that is just that method
    for name in entries:
        if not strategy[name]:
            plain.setdefault(adaptation[name], name)
    roles: dict[str, LRRole] = {}
    for name in entries:
        cls = METHODS.lookup(adaptation[name])
        source = adaptation[name] if strategy[name] else cls.lr_from
        if source is None:
            roles[name] = LRRole(refine=cls.lr_refine)
            continue
        source_name = plain.get(source, source)
        roles[name] = LRRole(lr_from=source_name)
        if source_name not in entries:
            roles[source_name] = LRRole(refine=METHODS.lookup(source).lr_refine)
    return roles


def method_entry(study: dict, method: str) -> dict:
    """A study method's overrides; a PLR source the study does not list is its adaptation method with defaults."""
    if method in study["methods"]:
        return study["methods"][method]
    return {"adaptation.method": method}


def new_protocol(study: dict, protocol_cfg: ProtocolConfig | None = None) -> LRProtocol:
    cfg = protocol_cfg or protocol_config_for(study)
    return LRProtocol(cfg, list(study["models"]), list(study["tasks"]), list(study["methods"]), list(study.get("seeds") or [0]), method_roles(study))


def outcome_for(key: RunKey, results: dict | None, protocol_cfg: ProtocolConfig, source_languages, error: str | None = None) -> RunOutcome:
    """The outcome the driver tells the protocol for a run (runner.Study.outcome, as a plain function): selection on
    the last validation metrics, or on test metrics only when the study says `protocol.select_on: test`. Test data
    never stands in for missing validation data: such a run has failed as far as selection is concerned."""
    if results is None:
        return RunOutcome(key=key, status="failed", error=error)
    if results.get("status") == "diverged":  # the loss became NaN/inf: a failed grid point, with its reason
        return RunOutcome(key=key, status="failed", error=results.get("error") or "diverged")
    if protocol_cfg.select_on == "test":
        per_lang = results.get("test") or {}
        missing = "the run has no test metrics to select on (protocol.select_on: test)"
    else:
        per_lang = results.get("dev_last") or {}
        missing = "the run has no validation metrics to select on (give validation_languages / data.dev)"
    if not per_lang:
        return RunOutcome(key=key, status="failed", error=missing)
    try:
        return outcome_from_metrics(key, per_lang, protocol_cfg, primary=results.get("primary_metric"), source_langs=tuple(source_languages))
    except XlgenError as e:
        return RunOutcome(key=key, status="failed", error=str(e))
