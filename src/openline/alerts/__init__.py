"""Alert rules evaluated across calls, and their notifications (docs/alerts.md)."""
