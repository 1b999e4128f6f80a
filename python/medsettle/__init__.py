"""medsettle: batch claims settlement for Chinese basic medical insurance (Changzhou).

The engine is the ``medsettle`` command line's own Rust crate; this package calls it in
process. Inputs are paths (CSV or Parquet) or in-memory tables: anything that exports the
Arrow PyCapsule stream interface (``pyarrow.Table``, ``polars.DataFrame``, a
``pyarrow.RecordBatchReader``; a ``pandas.DataFrame`` is converted with pyarrow). Outputs are
``pyarrow.Table`` objects built in Rust and handed over without a copy, with the columns and
types of ``medsettle settle --format parquet`` (money as ``decimal128(18, 2)``).

Example::

    import medsettle
    r = medsettle.settle("sample-data/claims.csv", "sample-data/persons.csv")
    r.counts.settled, r.settlements.num_rows
    r.fund_report.to_pandas()
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Union

import pyarrow as pa

from . import _native
from ._native import MedsettleError

__all__ = [
    "Counts",
    "Explanation",
    "MedsettleError",
    "Result",
    "ScenarioResult",
    "Step",
    "explain",
    "policies",
    "policy",
    "scenario",
    "settle",
]
__version__: str = _native.VERSION

#: A claims or persons input: a path (CSV or Parquet), or a table exporting
#: ``__arrow_c_stream__`` (pyarrow, polars), or a pandas DataFrame.
TableLike = Any
Inputs = Union[TableLike, Sequence[TableLike]]


@dataclass(frozen=True)
class Counts:
    """Row counts of a run (``manifest.json`` ``counts``)."""

    read: int
    settled: int
    not_covered: int
    reversal: int
    rejected: int
    persons_read: int
    persons_rejected: int
    person_years: int

    @property
    def reconciles(self) -> bool:
        """Whether every claim read is settled, not covered, a reversal or rejected."""
        return self.read == self.settled + self.not_covered + self.reversal + self.rejected


@dataclass(frozen=True)
class Result:
    """The outputs of one settle run, as the command line writes them.

    ``settlements`` and ``person_years`` have the columns of CONTRACT.md §4 in input order,
    ``fund_report`` those of ``fund_report.csv`` (``hosp_lv`` null where not applicable),
    ``rejects`` those of ``rejects.csv`` (``source_file`` is the path, or ``claims`` /
    ``persons`` for in-memory tables; ``row`` the line or record number).
    """

    settlements: pa.Table
    person_years: pa.Table
    fund_report: pa.Table
    rejects: pa.Table
    counts: Counts
    #: settlement years of the claims read (fund income is computed for these years)
    claim_years: List[int] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    """One step of a settlement: the layer, what was computed, the rule's source."""

    setl_id: str
    layer: str
    text: str
    source: str


@dataclass(frozen=True)
class Explanation:
    """A settlement (or a person's settlements) step by step, as ``medsettle explain``."""

    psn_no: str
    #: the reject reason when the claim was rejected (then ``steps`` is empty)
    rejected: Optional[str]
    #: the steps of the person's claims of the year, in settlement order; year-end steps
    #: have an empty ``setl_id``
    steps: List[Step]
    #: the person's settlements of the year, in settlement order
    settlements: Optional[pa.Table]


@dataclass(frozen=True)
class ScenarioResult:
    """The baseline and each scenario settled on the same claims, and their comparison as
    ``medsettle scenario`` writes it (every table computed by the engine, with the CSV files'
    column names; money as ``decimal128(18, 2)``, ratios as ``float64``, empty cells null)."""

    baseline: Result
    #: by scenario name, in the order given
    scenarios: Dict[str, Result]
    #: by scenario name
    descriptions: Dict[str, str]
    #: ``comparison.csv``, the budget impact: scenario, year, policy_id, flow, fund, benefit,
    #: baseline, reform, difference, percent (``difference / baseline``; null where the
    #: baseline is 0)
    comparison: Optional[pa.Table]
    #: ``balance_change.csv``: income, expenditure and balance per scenario, year and fund
    balance_change: Optional[pa.Table]
    #: ``winners_losers.csv``: person-years in the five bands of final-burden change, overall
    #: (``group`` = ``all``) and by psn_type, assistance, district, age_band and decile
    winners_losers: Optional[pa.Table]
    #: ``deciles.csv``: burden and average change per decile of baseline burden
    deciles: Optional[pa.Table]
    #: ``largest_changes.csv``: the 10 largest gains and losses (person-years)
    largest_changes: Optional[pa.Table]
    #: ``persons_delta.csv``: every person-year whose final burden changes
    persons_delta: Optional[pa.Table]
    #: ``cost_curve.csv`` of a sweep: fund spending and burden per value of the swept key
    cost_curve: Optional[pa.Table] = None


def _input(obj: TableLike) -> Any:
    if isinstance(obj, (str, os.PathLike)):
        return os.fspath(obj)
    if hasattr(obj, "__arrow_c_stream__"):
        return obj
    if type(obj).__module__.startswith("pandas"):
        return pa.Table.from_pandas(obj, preserve_index=False)
    raise TypeError(
        f"expected a path or an Arrow table (pyarrow, polars, pandas), got {type(obj).__name__}"
    )


def _inputs(claims: Inputs, persons: TableLike) -> tuple:
    many = claims if isinstance(claims, (list, tuple)) else [claims]
    if not many:
        raise MedsettleError("no claims input given")
    objs = [_input(c) for c in many]
    names = [
        o if isinstance(o, str) else ("claims" if len(objs) == 1 else f"claims[{i}]")
        for i, o in enumerate(objs)
    ]
    p = _input(persons)
    return objs, names, p, p if isinstance(p, str) else "persons"


def _result(d: Dict[str, Any]) -> Result:
    return Result(
        settlements=d["settlements"],
        person_years=d["person_years"],
        fund_report=d["fund_report"],
        rejects=d["rejects"],
        counts=Counts(**json.loads(d["counts"])),
        claim_years=list(d["claim_years"]),
    )


def _specs(policies: Optional[Sequence[str]], set: Optional[Sequence[str]]) -> tuple:
    if isinstance(policies, str):
        policies = [policies]
    if isinstance(set, str):
        set = [set]
    return [os.fspath(p) for p in (policies or [])], list(set or [])


def settle(
    claims: Inputs,
    persons: TableLike,
    policies: Optional[Sequence[str]] = None,
    set: Optional[Sequence[str]] = None,
) -> Result:
    """Settle every claim, as ``medsettle settle``.

    Args:
        claims: one claims input or a list of them (paths, Arrow tables, pandas).
        persons: the persons input.
        policies: built-in policy ids or policy files (``--policy``).
        set: ``KEY=VALUE`` parameter overrides (``--set``), e.g.
            ``["inpatient.cap_basis=eligible_cost"]``.

    Raises:
        MedsettleError: with the command line's message (missing column, unknown policy...).
    """
    objs, names, p, pname = _inputs(claims, persons)
    specs, sets = _specs(policies, set)
    return _result(_native.settle(objs, names, p, pname, specs, sets, True))


def scenario(
    claims: Inputs,
    persons: TableLike,
    scenarios: Sequence[Union[str, os.PathLike]] = (),
    policies: Optional[Sequence[str]] = None,
    set: Optional[Sequence[str]] = None,
    sweep: Optional[str] = None,
) -> ScenarioResult:
    """Settle under the baseline policies and under each what-if scenario, and compare, as
    ``medsettle scenario --full [--sweep]``.

    Args:
        scenarios: scenario files (TOML: ``name``, ``description``, ``[[change]]``).
        policies, set: the baseline, as for :func:`settle`.
        sweep: ``KEY=FROM..TO:STEP`` (``--sweep``): one kernel run per value, summed into
            :attr:`ScenarioResult.cost_curve`. With a sweep alone (no scenario files) only
            the baseline and the cost curve are filled in.

    Example::

        s = medsettle.scenario("claims.csv", "persons.csv", ["level3-rate-75.toml"])
        s.comparison.to_pandas()                       # budget impact
        s.winners_losers.filter(pc.field("group") == "all")
    """
    objs, names, p, pname = _inputs(claims, persons)
    specs, sets = _specs(policies, set)
    files = [os.fspath(s) for s in ([scenarios] if isinstance(scenarios, (str, os.PathLike)) else scenarios)]
    runs, tables = _native.scenario(objs, names, p, pname, files, specs, sets, sweep)
    return ScenarioResult(
        baseline=_result(runs[0][2]),
        scenarios={name: _result(d) for name, _, d in runs[1:]},
        descriptions={name: desc for name, desc, _ in runs[1:]},
        comparison=tables.get("comparison"),
        balance_change=tables.get("balance_change"),
        winners_losers=tables.get("winners_losers"),
        deciles=tables.get("deciles"),
        largest_changes=tables.get("largest_changes"),
        persons_delta=tables.get("persons_delta"),
        cost_curve=tables.get("cost_curve"),
    )


def explain(
    claims: Inputs,
    persons: TableLike,
    setl_id: Optional[str] = None,
    psn_no: Optional[str] = None,
    policies: Optional[Sequence[str]] = None,
    set: Optional[Sequence[str]] = None,
) -> Explanation:
    """Explain one settlement (``setl_id``) or every settlement of a person (``psn_no``)
    step by step, with the rule and its source at each step (``medsettle explain``)."""
    if (setl_id is None) == (psn_no is None):
        raise ValueError("give exactly one of setl_id and psn_no")
    objs, names, p, pname = _inputs(claims, persons)
    specs, sets = _specs(policies, set)
    d = _native.explain(objs, names, p, pname, setl_id, psn_no, specs, sets)
    return Explanation(
        psn_no=d["psn_no"],
        rejected=d["rejected"],
        steps=[Step(**s) for s in d["steps"]],
        settlements=d["settlements"],
    )


def policies() -> List[Dict[str, Any]]:
    """The built-in policies (``medsettle policy list``), each as a dict of its effective
    parameters (amounts and rates as decimal strings) plus ``_origin`` and the hashes."""
    return [json.loads(p) for p in _native.policies()]


def policy(id: Union[str, os.PathLike], set: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """One effective policy (``medsettle policy show ID --set ...``): a built-in id or a
    policy file, with overrides applied."""
    _, sets = _specs(None, set)
    return json.loads(_native.policy(os.fspath(id), sets))
