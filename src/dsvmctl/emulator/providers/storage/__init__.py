"""Microsoft.Storage control plane: storage accounts (create, get, list, listKeys, delete, name
availability). `models` holds the accounts and Azure's rules; `responses` the wire format."""

from .responses import register

PROVIDER = register
