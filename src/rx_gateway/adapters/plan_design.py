"""A plan design (`rx-gateway simulate --design FILE.json`): overrides applied to the loaded plan
documents and formulary, giving the reference snapshot a replay decides claims under.

    {
      "name": "tier 1 at $5, insulin excluded",
      "plans": {"PLAN-ID": {<a JSON merge patch (RFC 7386) of the plan document>}},
      "formulary": [{"plan_id": "PLAN-ID", "ndc": "...", "tier": 3, "status": "covered"}]
    }

``plans``: each plan's document (the plan format of the README: tiers with their copays and
coinsurance, deductible, out-of-pocket maximum, purses, programs, ...) patched: an object
merges into the object it names, any other value replaces, ``null`` removes. The patched
document is read by the same parser as a loaded plan, so a mistake names its JSON path.
``formulary``: entries moved (tier, status, prior authorization, limits: any field of a
formulary entry but the plan and the NDC), or added for a drug the plan did not list.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rx_gateway.adapters.documents import plan_from_document
from rx_gateway.adapters.files.tables import TABLES
from rx_gateway.domain.errors import DesignError, ReferenceDataError
from rx_gateway.domain.reference import (
    FormularyEntry,
    FormularyStatus,
    ReferenceSnapshot,
)

_ENTRY_FIELDS = {f.name: f for f in dataclasses.fields(FormularyEntry)}
# each formulary field's rule, as formulary.csv is read
FORMULARY_PARSERS = TABLES["formulary.csv"]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: ``patch`` applied to ``target`` (neither is changed)."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def _formulary_value(where: str, key: str, value: Any) -> Any:
    """A formulary field's value as formulary.csv's rules read it (a positive quantity limit, a
    gender of 1 or 2 ...), of the JSON type its field holds (true/false, a whole number, text;
    null for an optional field left out)."""
    parse = FORMULARY_PARSERS.get(key)
    if parse is None:
        return value
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, str)):
        text = str(value)
    else:
        msg = f"{where}: {value!r} is not a value of this field"
        raise DesignError(msg)
    try:
        parsed = parse(text)
    except ValueError as error:
        msg = f"{where}: {value!r} {error}"
        raise DesignError(msg) from None
    if value is not None and parsed is not None and type(parsed) is not type(value):
        kind = {bool: "true or false", int: "a whole number", str: "text"}[type(parsed)]
        msg = f"{where}: {value!r} must be {kind}"
        raise DesignError(msg)
    return parsed


def _entry(source: str, position: int, move: Any, snapshot: ReferenceSnapshot) -> FormularyEntry:
    where = f"{source}: formulary[{position}]"
    if not isinstance(move, dict):
        msg = f"{where}: an entry is an object with plan_id and ndc"
        raise DesignError(msg)
    plan_id, ndc = str(move.get("plan_id")), str(move.get("ndc"))
    if plan_id not in snapshot.plans:
        msg = f"{where}: plan_id {plan_id!r}: no such plan"
        raise DesignError(msg)
    if ndc not in snapshot.drugs:
        msg = f"{where}: ndc {ndc!r}: no such drug"
        raise DesignError(msg)
    existing = snapshot.formulary.get((plan_id, ndc))
    changes: dict[str, Any] = {}
    for key, value in move.items():
        if key in ("plan_id", "ndc"):
            continue
        if key not in _ENTRY_FIELDS:
            msg = f"{where}.{key}: not a formulary field ({', '.join(sorted(_ENTRY_FIELDS))})"
            raise DesignError(msg)
        if key == "status":
            try:
                changes[key] = FormularyStatus(value)
            except ValueError:
                choices = ", ".join(s.value for s in FormularyStatus)
                msg = f"{where}.status: {value!r} is not one of {choices}"
                raise DesignError(msg) from None
            continue
        if key == "tier" and not (isinstance(value, int) and not isinstance(value, bool)):
            msg = f"{where}.tier: {value!r} is not a tier number"
            raise DesignError(msg)
        changes[key] = _formulary_value(f"{where}.{key}", key, value)
    if existing is None:
        if "tier" not in changes:
            msg = f"{where}: {ndc} is not on {plan_id}'s formulary: give its tier"
            raise DesignError(msg)
        changes.setdefault("status", FormularyStatus.COVERED)
        return FormularyEntry(plan_id=plan_id, ndc=ndc, **changes)
    return dataclasses.replace(existing, **changes)


PURSE_FUNDING_SCALE_MAX_BP = 1_000_000  # at most 100 times the funding


def purse_funding_scales(design: Any, source: str) -> dict[str, int]:
    """The design's ``purse_funding``: purse kind → ``{"scale_bp": N}`` (basis points of the
    funding each purse of the kind really got: 15000 half as much again, 0 none). Raises
    DesignError naming the place."""
    raw = design.get("purse_funding", {}) if isinstance(design, dict) else {}
    if not isinstance(raw, dict):
        msg = (
            f"{source}: purse_funding is an object by purse kind,"
            ' e.g. {"HRA": {"scale_bp": 15000}}'
        )
        raise DesignError(msg)
    scales: dict[str, int] = {}
    for kind, rule in raw.items():
        scale = rule.get("scale_bp") if isinstance(rule, dict) else None
        if set(rule if isinstance(rule, dict) else {}) - {"scale_bp"} or not (
            isinstance(scale, int)
            and not isinstance(scale, bool)
            and 0 <= scale <= PURSE_FUNDING_SCALE_MAX_BP
        ):
            msg = (
                f'{source}: purse_funding.{kind}: give {{"scale_bp": N}}, N a whole number of'
                f" basis points from 0 to {PURSE_FUNDING_SCALE_MAX_BP}"
            )
            raise DesignError(msg)
        scales[str(kind)] = scale
    return scales


def _check_tiers(
    source: str,
    plans: dict[str, Any],
    formulary: dict[tuple[str, str], FormularyEntry],
    moved: dict[tuple[str, str], int],
    patched: set[str],
) -> None:
    """Every formulary entry the design touches (moved, or of a plan it patches) has a tier of
    its plan's (a move to tier 9, or a plan patch that removes a tier drugs are on, failed the
    replay with a KeyError); entries of plans it leaves alone are not its business."""
    for key, entry in formulary.items():
        plan = plans.get(entry.plan_id)
        if plan is None or entry.tier in plan.tiers:
            continue
        if key not in moved and entry.plan_id not in patched:
            continue
        known = ", ".join(str(t) for t in sorted(plan.tiers))
        if key in moved:
            msg = (
                f"{source}: formulary[{moved[key]}].tier: tier {entry.tier} is not one of"
                f" {entry.plan_id}'s tiers ({known})"
            )
        else:
            msg = (
                f"{source}: plans.{entry.plan_id}.tiers: tier {entry.tier} is gone, and"
                f" {entry.ndc} is on it (move the plan's drugs off it first)"
            )
        raise DesignError(msg)


def apply_design(
    design: Any,
    source: str,
    documents: dict[str, Any],
    snapshot: ReferenceSnapshot,
) -> ReferenceSnapshot:
    """The snapshot with the design's plan and formulary changes. ``documents``: each plan's
    stored document. Raises DesignError (one line naming the file and the place)."""
    if not isinstance(design, dict):
        msg = f"{source}: a design is a JSON object with plans and/or formulary"
        raise DesignError(msg)
    unknown = sorted(set(design) - {"name", "description", "plans", "formulary", "purse_funding"})
    if unknown:
        msg = (
            f"{source}: unknown key {unknown[0]!r} (name, description, plans, formulary,"
            " purse_funding)"
        )
        raise DesignError(msg)
    patches = design.get("plans", {})
    moves = design.get("formulary", [])
    if not isinstance(patches, dict) or not isinstance(moves, list):
        msg = f"{source}: plans is an object by plan ID, formulary a list"
        raise DesignError(msg)
    funding = purse_funding_scales(design, source)
    if not patches and not moves and not funding:
        msg = f"{source}: the design changes nothing (no plans, no formulary, no purse_funding)"
        raise DesignError(msg)
    plans = dict(snapshot.plans)
    for plan_id, patch in patches.items():
        if plan_id not in documents:
            msg = f"{source}: plans.{plan_id}: no such plan (known: {', '.join(sorted(documents))})"
            raise DesignError(msg)
        if not isinstance(patch, dict):
            msg = f"{source}: plans.{plan_id}: a patch of the plan document is an object"
            raise DesignError(msg)
        document = merge_patch(documents[plan_id], patch)
        try:
            plan = plan_from_document(
                document, f"{source}: plans.{plan_id}", strict=True, stored=documents[plan_id]
            )
        except ReferenceDataError as error:
            raise DesignError(str(error)) from None
        if plan.plan_id != plan_id:
            msg = f"{source}: plans.{plan_id}: a design does not rename a plan"
            raise DesignError(msg)
        plans[plan_id] = plan
    formulary = dict(snapshot.formulary)
    moved: dict[tuple[str, str], int] = {}
    for position, move in enumerate(moves):
        entry = _entry(source, position, move, snapshot)
        formulary[(entry.plan_id, entry.ndc)] = entry
        moved[(entry.plan_id, entry.ndc)] = position
    _check_tiers(source, plans, formulary, moved, set(patches))
    return ReferenceSnapshot.build(
        f"{snapshot.version}+design",
        list(plans.values()),
        list(snapshot.drugs.values()),
        list(formulary.values()),
        list(snapshot.pharmacies.values()),
        list(dict.fromkeys(snapshot.interactions.values())),
    )
