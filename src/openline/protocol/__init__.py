"""Wire models: the agent protocol (agent.py) and the client call protocol (client.py)."""
