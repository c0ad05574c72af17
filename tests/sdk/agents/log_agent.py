"""An agent that logs a lot, run as a real process by test_sdk_call_logs.py."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

if os.environ.get("BLOCK_LOGURU"):
    sys.modules["loguru"] = None  # behave as if loguru were not installed

from openline.sdk import AgentApp, AgentEndCall, AgentSendText, UserTurnEnded, current_call_id

LINES = int(os.environ.get("LINES", "200"))
logger = logging.getLogger("log_agent")

try:
    from loguru import logger as loguru_logger
except ImportError:
    loguru_logger = None


def pre_call(request):
    logger.warning("pre-call hook outside any call")
    return {}


def from_a_thread(tag: str) -> None:
    logger.info("%s from a thread (call %s)", tag, current_call_id())


async def agent(ctx, event):
    if not isinstance(event, UserTurnEnded):
        return
    tag = event.content
    for i in range(LINES):
        logger.info("%s line %d", tag, i)
        if i % 10 == 0:
            await asyncio.sleep(0.005)  # let the other call interleave
    await asyncio.to_thread(from_a_thread, tag)
    if loguru_logger is not None:
        loguru_logger.info("{} from loguru", tag)  # noqa: PLE1205 (loguru formats {}, not %s)
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        logger.exception("%s caught an error", tag)
    logger.debug("%s debug is below the default INFO level", tag)
    yield AgentSendText(f"{tag} done")
    yield AgentEndCall(reason="agent_ended")


app = AgentApp(agent, pre_call=pre_call)

if __name__ == "__main__":
    logger.warning("module level line, outside any call")
    app.run()
