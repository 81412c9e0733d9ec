"""Grade reports: pure transformations from a run record to documents (no pytest here)."""
