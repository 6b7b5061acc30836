"""The catalog: DSVM images and VM sizes (a bundled snapshot of what Azure reports)."""
