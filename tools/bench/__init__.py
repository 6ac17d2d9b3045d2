"""Benchmarks (`mast bench …`): each bench in its own module, figures printed, never asserted."""
