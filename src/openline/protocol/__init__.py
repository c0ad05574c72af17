"""Wire models: the client call protocol and the agent protocol (reference §1, §2)."""
