"""Evaluation metrics through Cartesia's official `cartesia` client; prints JSON.

Usage: python official_metrics.py BASE_URL API_KEY setup AGENT_ID
       python official_metrics.py BASE_URL API_KEY results CALL_ID METRIC_ID AGENT_ID
"""

import json
import sys

from cartesia import Cartesia

base_url, api_key, step, *args = sys.argv[1:]
client = Cartesia(api_key=api_key, base_url=base_url)
if step == "setup":
    (agent_id,) = args
    metric = client.agents.metrics.create(
        name="confirmed_shipping",
        prompt="Did the agent confirm the order shipped?",
        display_name="Confirmed shipping",
    )
    client.agents.metrics.add_to_agent(metric.id, agent_id=agent_id)
    shown = {"metric": metric.model_dump(mode="json")}
else:
    call_id, metric_id, agent_id = args
    results = client.agents.metrics.results.list(call_id=call_id, limit=10)
    exported = client.agents.metrics.results.export(agent_id=agent_id)
    shown = {
        "results": [r.model_dump(mode="json", by_alias=False) for r in results],
        "retrieved": client.agents.metrics.retrieve(metric_id).model_dump(mode="json"),
        "listed": [m.id for m in client.agents.metrics.list(limit=100).data],
        "export": exported,
    }
    client.agents.metrics.remove_from_agent(metric_id, agent_id=agent_id)
print(json.dumps(shown))
