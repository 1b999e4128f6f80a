"""Type stubs of the native module (medsettle's Rust engine)."""

from typing import Any, Dict, List, Optional, Sequence, Tuple

import pyarrow as pa

VERSION: str
LINE_COLUMN: str

class MedsettleError(Exception):
    """An input, policy or option the engine cannot use (the command line's message)."""

def settle(
    claims: Sequence[Any], claims_names: Sequence[str], persons: Any, persons_name: str,
    policies: Sequence[str], sets: Sequence[str], income: bool = True,
) -> Dict[str, Any]: ...
def scenario(
    claims: Sequence[Any], claims_names: Sequence[str], persons: Any, persons_name: str,
    scenarios: Sequence[str], policies: Sequence[str], sets: Sequence[str], sweep: Optional[str] = None,
) -> Tuple[List[Tuple[str, str, Dict[str, Any]]], Dict[str, pa.Table]]: ...
def explain(
    claims: Sequence[Any], claims_names: Sequence[str], persons: Any, persons_name: str,
    setl_id: Optional[str], psn_no: Optional[str], policies: Sequence[str], sets: Sequence[str],
) -> Dict[str, Any]: ...
def income(
    persons: Any, persons_name: str, years: Sequence[int], policies: Sequence[str], sets: Sequence[str],
) -> Tuple[pa.Table, pa.Table]: ...
def output_schemas() -> Dict[str, pa.Schema]: ...
def policies() -> List[str]: ...
def policy(spec: str, sets: Sequence[str]) -> str: ...
