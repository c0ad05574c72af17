"""Running calls: the session state machine between a client and an agent server."""
