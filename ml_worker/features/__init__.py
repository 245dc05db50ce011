"""features for the ML worker (see docs/architecture.md)."""
