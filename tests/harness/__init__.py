"""Test harnesses that stand up real machines on this box (no cloud, no mocks)."""
