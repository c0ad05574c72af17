"""The HTTP and websocket surface: REST API, client call protocol, live tails."""
