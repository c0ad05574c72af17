"""Post-call analysis: a short summary of each call, stored and announced by webhook."""
