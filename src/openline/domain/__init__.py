"""Plain data and rules of openline; imports nothing else of openline."""
