"""Will the pods be ready? KEDA, the HPA, pod start-up and nodes, fed by the calendar's values.

Pure, like the core it sits on: `now` and the calendar's values in, a verdict out; no I/O, no
clock. It is not calendar logic, so it lives above `scaler.calendar`, which never imports it.
"""

from scaler.readiness.simulation import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    SEARCH_HORIZON,
    Policy,
    Readiness,
    Sample,
    ScalingRules,
    Settings,
    Simulation,
    parse_scaling_rules,
    simulate,
)

__all__ = [
    "DEFAULT_SCALE_DOWN",
    "DEFAULT_SCALE_UP",
    "SEARCH_HORIZON",
    "Policy",
    "Readiness",
    "Sample",
    "ScalingRules",
    "Settings",
    "Simulation",
    "parse_scaling_rules",
    "simulate",
]
