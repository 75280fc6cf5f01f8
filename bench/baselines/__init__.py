"""Anchor (b): naive baselines, written the way typical take-home solutions are."""
