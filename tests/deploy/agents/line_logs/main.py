"""A cartesia-line agent that logs the way agents do, knowing nothing of openline: loguru,
stdlib logging and print, in its pre-call hook, in get_agent and while answering, plus
one line at import time, outside any call. Each line names the caller's token
(the call's metadata), so a test can tell whose call printed it."""

import logging

from line import (
    AgentSendText,
    CallStarted,
    PreCallResult,
    UserTextSent,
    UserTurnEnded,
    VoiceAgentApp,
)
from loguru import logger

logging.basicConfig(level=logging.INFO)
log = logging.getLogger("desk")
print("imported outside any call", flush=True)


class Desk:
    def __init__(self, token):
        self.token = token

    async def process(self, env, event):
        if isinstance(event, CallStarted):
            yield AgentSendText(text="Hello.")
            return
        if not isinstance(event, UserTurnEnded):
            return
        said = " ".join(part.content for part in event.content if isinstance(part, UserTextSent))
        logger.info(f"loguru heard {said!r} from {self.token}")
        log.warning("logging heard %r from %s", said, self.token)
        print(f"print heard {said!r} from {self.token}", flush=True)
        try:
            raise ValueError(f"bad order from {self.token}")
        except ValueError:
            log.exception("traceback for %s", self.token)
        yield AgentSendText(text=f"Noted, {self.token}.")


async def pre_call(call_request):
    logger.info(f"pre-call for {call_request.metadata['token']}")
    return PreCallResult()


async def get_agent(env, call_request):
    log.info("get_agent for %s", call_request.metadata["token"])
    return Desk(call_request.metadata["token"])


if __name__ == "__main__":
    VoiceAgentApp(get_agent=get_agent, pre_call_handler=pre_call).run()
