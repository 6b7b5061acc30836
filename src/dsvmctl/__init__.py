"""dsvmctl: provision, resize and benchmark Azure Data Science VMs.

The heavy parts (Azure SDK, paramiko, torch) are imported lazily by the modules that use them,
so importing this package stays cheap.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    # `from dsvmctl import Cloud, EnvironmentSpec` without importing them (and pydantic) eagerly.
    if name == "Cloud":
        from .api import Cloud

        return Cloud
    if name == "EnvironmentSpec":
        from .spec import EnvironmentSpec

        return EnvironmentSpec
    raise AttributeError(f"module 'dsvmctl' has no attribute {name!r}")


__all__ = ["Cloud", "EnvironmentSpec", "__version__"]
