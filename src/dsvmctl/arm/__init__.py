"""The ARM template engine: load, expand (parameters, expressions, copy loops, conditions,
dependencies, nested deployments, outputs), lint and validate templates offline."""

from .errors import TemplateError, TemplateFileError
from .template import (
    DeploymentContext,
    Expansion,
    ExpansionWarning,
    Resource,
    example_parameter_values,
    expand,
    load_parameters,
    load_template,
)

__all__ = [
    "DeploymentContext",
    "Expansion",
    "ExpansionWarning",
    "Resource",
    "TemplateError",
    "TemplateFileError",
    "example_parameter_values",
    "expand",
    "load_parameters",
    "load_template",
]
