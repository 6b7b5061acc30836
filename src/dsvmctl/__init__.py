"""dsvmctl: provision, resize and benchmark Azure Data Science VMs.

The heavy parts (Azure SDK, paramiko, torch) are imported lazily by the modules that use them,
so importing this package stays cheap.
"""

__version__ = "0.1.0"
