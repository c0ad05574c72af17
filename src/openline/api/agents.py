"""``/agents``: create, list, read, update and delete agents (docs/api.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from openline.api._params import JsonObject, Text
from openline.api.deps import PlatformDep, authenticated
from openline.api.errors import ApiError, not_found
from openline.domain.notifications import EMAIL
from openline.domain.time import rfc3339
from openline.voice.providers import STT_PROVIDERS, TTS_PROVIDERS

MAX_EXPORTED_METRICS = 20

router = APIRouter(prefix="/agents", dependencies=[Depends(authenticated)], tags=["agents"])


class AgentFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: Text | None = Field(default=None, max_length=10_000)
    system_prompt: Text | None = Field(default=None, max_length=100_000)
    introduction: Text | None = Field(default=None, max_length=10_000)
    metadata: JsonObject | None = None
    self_hosted_deployment_url: Text | None = Field(default=None, max_length=2048)
    webhook_id: Text | None = Field(default=None, max_length=64)
    recording_enabled: bool = True
    # Speech settings for voice calls; null: the platform's default.
    stt_provider: str | None = Field(default=None, max_length=64)
    tts_provider: str | None = Field(default=None, max_length=64)
    tts_voice: Text | None = Field(default=None, max_length=200)
    tts_language: str | None = Field(
        default=None, max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
    )
    # Names of the agent's log_metric metrics that /metrics shows as histograms (opt-in:
    # each one is a label value of openline_agent_metric).
    prometheus_metrics: list[Annotated[Text, Field(min_length=1, max_length=200)]] | None = Field(
        default=None, max_length=MAX_EXPORTED_METRICS
    )

    @field_validator("stt_provider")
    @classmethod
    def _stt_provider(cls, value: str | None) -> str | None:
        return _known_provider(value, STT_PROVIDERS)

    @field_validator("tts_provider")
    @classmethod
    def _tts_provider(cls, value: str | None) -> str | None:
        return _known_provider(value, TTS_PROVIDERS)

    @field_validator("self_hosted_deployment_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL of the agent server")
        return value


def _known_provider(name: str | None, known: tuple[str, ...]) -> str | None:
    if name is not None and name not in known:
        raise ValueError(f"unknown provider {name!r}; known: {', '.join(known)}")
    return name


class AgentCreate(AgentFields):
    name: Text = Field(min_length=1, max_length=200)


class AgentUpdate(AgentFields):
    name: Text | None = Field(default=None, min_length=1, max_length=200)


def agent_json(agent: dict, deployment_count: int = 0) -> dict[str, Any]:
    return {
        "id": agent["id"],
        "name": agent["name"],
        "description": agent["description"],
        "system_prompt": agent["system_prompt"],
        "introduction": agent["introduction"],
        "metadata": agent["metadata"] or {},
        "self_hosted_deployment_url": agent["self_hosted_deployment_url"],
        "webhook_id": agent["webhook_id"],
        "recording_enabled": agent["recording_enabled"],
        "stt_provider": agent["stt_provider"],
        "tts_provider": agent["tts_provider"],
        "prometheus_metrics": agent["prometheus_metrics"] or [],
        # Fields Cartesia's agent summary requires (the voice and language as strings).
        "deployment_count": deployment_count,
        "has_text_to_agent_run": True,
        "tts_voice": agent["tts_voice"] or "",
        "tts_language": agent["tts_language"] or "en",
        "created_at": rfc3339(agent["created_at"]),
        "updated_at": rfc3339(agent["updated_at"]),
    }


def _shown(ol, agent: dict) -> dict[str, Any]:
    count = ol.deployment_repo.counts([agent["id"]]).get(agent["id"], 0)
    return agent_json(agent, count)


def _check_webhook(ol, webhook_id: str | None) -> None:
    webhook = ol.webhooks.get(webhook_id) if webhook_id else None
    if webhook_id and webhook is None:
        raise ApiError(422, f"webhook_id: no webhook with id {webhook_id!r}")
    if webhook is not None and webhook["format"] == EMAIL:
        # An email per turn of every call would bury the inbox: email is for alerts.
        raise ApiError(422, f"webhook_id: {webhook_id!r} is an email endpoint, for alerts only")


@router.post("", status_code=201)
def create_agent(body: AgentCreate, ol: PlatformDep) -> dict:
    _check_webhook(ol, body.webhook_id)
    return agent_json(ol.agents.create(**body.model_dump()))


@router.get("")
def list_agents(ol: PlatformDep) -> dict:
    counts = ol.deployment_repo.counts()
    return {"summaries": [agent_json(a, counts.get(a["id"], 0)) for a in ol.agents.list()]}


@router.get("/{agent_id}")
def get_agent(agent_id: Text, ol: PlatformDep) -> dict:
    agent = ol.agents.get(agent_id)
    if agent is None:
        raise not_found("agent", agent_id)
    return _shown(ol, agent)


@router.patch("/{agent_id}")
def update_agent(agent_id: Text, body: AgentUpdate, ol: PlatformDep) -> dict:
    changes = body.model_dump(exclude_unset=True)
    _check_webhook(ol, changes.get("webhook_id"))
    if changes.get("name", "") is None:
        changes.pop("name")  # a name can be changed, not removed
    agent = ol.agents.update(agent_id, **changes)
    if agent is None:
        raise not_found("agent", agent_id)
    return _shown(ol, agent)


@router.delete("/{agent_id}", status_code=204)
def delete_agent(agent_id: Text, ol: PlatformDep) -> Response:
    if not ol.agents.delete(agent_id):
        raise not_found("agent", agent_id)
    return Response(status_code=204)
