"""emulator/providers."""
