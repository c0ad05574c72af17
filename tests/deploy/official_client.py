"""Reads deployments with Cartesia's official `cartesia` client; prints JSON.

Runs in the deployed cartesia-line agent's own venv (which has `cartesia`).
Usage: python official_client.py BASE_URL API_KEY AGENT_ID DEPLOYMENT_ID
"""

import json
import sys

from cartesia import Cartesia

base_url, api_key, agent_id, deployment_id = sys.argv[1:5]
client = Cartesia(api_key=api_key, base_url=base_url)
listed = client.agents.deployments.list(agent_id)
one = client.agents.deployments.retrieve(deployment_id)
print(
    json.dumps(
        {
            "listed": [(d.id, d.status, d.is_live) for d in listed],
            "one": one.model_dump(mode="json"),
        }
    )
)
