"""backends/ssh."""
