"""Quality gates with Great Expectations 1.x (see ``expectations/`` and :func:`run_gate`).

Importing this package is cheap: Great Expectations is imported on the first gate run.
"""

from .gate import STAGES, allowed_event_types, run_gate, runtime_parameters
from .gx_project import checkpoint_name, sync_project
from .result import GATE_RESULT_COLUMNS, GateFailed, GateResult
from .specs import SuiteSpec, load_suite_specs
from .thresholds import QualityConfigError, Thresholds, load_thresholds

__all__ = [
    "run_gate",
    "GateFailed",
    "GateResult",
    "GATE_RESULT_COLUMNS",
    "QualityConfigError",
    "STAGES",
    "Thresholds",
    "load_thresholds",
    "SuiteSpec",
    "load_suite_specs",
    "sync_project",
    "checkpoint_name",
    "runtime_parameters",
    "allowed_event_types",
]
