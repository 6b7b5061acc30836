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
from .lint import Finding, lint
from .validate import exit_code, validate_paths

__all__ = [
    "DeploymentContext",
    "Expansion",
    "ExpansionWarning",
    "Finding",
    "Resource",
    "TemplateError",
    "TemplateFileError",
    "example_parameter_values",
    "exit_code",
    "expand",
    "load_parameters",
    "load_template",
    "lint",
    "validate_paths",
]
