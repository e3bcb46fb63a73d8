"""Bridges to tools optfn users already run (each needs its own optional dependency)."""
