"""Lists and retrieves calls with Cartesia's official `cartesia` client; prints JSON.

Usage: python official_client.py BASE_URL API_KEY AGENT_ID CALL_ID
"""

import json
import sys

from cartesia import Cartesia

base_url, api_key, agent_id, call_id = sys.argv[1:5]
client = Cartesia(api_key=api_key, base_url=base_url)
listed = [call.id for call in client.agents.calls.list(agent_id=agent_id, limit=1)]
call = client.agents.calls.retrieve(call_id)
agents = [agent.id for agent in client.agents.list().summaries]
print(
    json.dumps(
        {
            "listed": listed,
            "call": call.model_dump(mode="json", by_alias=True),
            "agents": agents,
        }
    )
)
