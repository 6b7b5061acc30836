"""PyTorch workloads shipped with dsvmctl. They run on the VM and import nothing from dsvmctl."""
