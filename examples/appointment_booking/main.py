"""Appointment booking agent: several tool calls, then it ends the call.

Flow: ask for a day -> `check_availability` -> offer the free times -> the caller
picks one -> `book_appointment` -> a background `send_confirmation` (survives an
interruption) -> "anything else?" -> "no" ends the call through the passthrough
tool `end_conversation`.

Run it:  PORT=8123 python main.py
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from typing import Annotated, Literal

from openline.sdk import (
    AgentApp,
    AgentEndCall,
    AgentSendText,
    CallStarted,
    LogMessage,
    LogMetric,
    UserTurnEnded,
    loopback_tool,
    passthrough_tool,
)

logger = logging.getLogger("appointment_booking")

Day = Literal["monday", "tuesday", "wednesday", "thursday", "friday"]
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")

# Free slots per day, as the clinic's calendar would answer (offline stand-in).
CALENDAR: dict[str, list[str]] = {
    "monday": ["09:00", "11:30"],
    "tuesday": ["10:00", "14:00", "16:30"],
    "wednesday": [],
    "thursday": ["08:30", "13:00"],
    "friday": ["15:00"],
}


@loopback_tool
async def check_availability(ctx, day: Annotated[Day, "Day of the week"]) -> list[str]:
    """List the free appointment times on a day."""
    await asyncio.sleep(0.01)
    slots = list(CALENDAR.get(day, []))
    logger.info("%d free slots on %s", len(slots), day)
    return slots


@loopback_tool
async def book_appointment(
    ctx,
    day: Annotated[Day, "Day of the week"],
    time: Annotated[str, "Time, HH:MM"],
    name: Annotated[str, "Name for the booking"] = "caller",
):
    """Book an appointment; the result is a confirmation code."""
    if time not in CALENDAR.get(day, []):
        raise ValueError(f"{time} on {day} is not free")
    CALENDAR[day].remove(time)
    code = f"BK-{secrets.token_hex(3).upper()}"
    yield LogMessage(
        name="appointment_booked",
        message=f"Booked {day} {time}",
        metadata={"day": day, "time": time, "name": name, "confirmation": code},
    )
    yield code


@loopback_tool(is_background=True)
async def send_confirmation(ctx, code: Annotated[str, "Confirmation code"]):
    """Send the confirmation message (slow; keeps going if the caller interrupts)."""
    await asyncio.sleep(0.2)
    logger.info("confirmation %s sent", code)
    return f"confirmation {code} sent"


@passthrough_tool
async def end_conversation(ctx, farewell: Annotated[str, "Last thing to say"]):
    """Say goodbye and hang up."""
    yield AgentSendText(farewell)
    yield AgentEndCall(reason="agent_ended")


def parse_time(text: str) -> str | None:
    """HH:MM from '2pm', '14:00' or '8:30' (digits only, no 'half past two')."""
    m = re.search(r"\b(\d{1,2})(?::(\d{2}))?\s*(am|pm)?\b", text.lower())
    if not m:
        return None
    hour, minute, ampm = int(m.group(1)), int(m.group(2) or 0), m.group(3)
    if ampm == "pm" and hour < 12:
        hour += 12
    return f"{hour:02d}:{minute:02d}"


class BookingAgent:
    def __init__(self) -> None:
        self.day: str | None = None
        self.slots: list[str] = []
        self.booked = False

    async def process(self, ctx, event):
        if isinstance(event, CallStarted):
            yield AgentSendText("Hello! Which day would you like an appointment, Monday to Friday?")
            return
        if not isinstance(event, UserTurnEnded):
            return
        text = event.content.lower()
        if self.booked:
            if any(w in text for w in ("no", "bye", "that's all", "nothing")):
                await ctx.call_tool(end_conversation, farewell="Great, see you then. Goodbye!")
            else:
                yield AgentSendText("I can only book one appointment per call. Anything else?")
            return
        day = next((d for d in DAYS if d in text), None)
        if day is not None:
            self.day = day
            result = await ctx.call_tool(check_availability, day=day)
            self.slots = result.value or []
            if not self.slots:
                yield AgentSendText(f"Sorry, {day.title()} is fully booked. Another day?")
                return
            yield AgentSendText(
                f"On {day.title()} I have {', '.join(self.slots)}. Which time suits you?"
            )
            return
        time = parse_time(text)
        if self.day is None or time is None:
            yield AgentSendText("Which day, and then which time, would you like?")
            return
        if time not in self.slots:
            yield AgentSendText(f"{time} isn't free. I have {', '.join(self.slots)}.")
            return
        booking = await ctx.call_tool(book_appointment, day=self.day, time=time, name="caller")
        if not booking.ok:
            yield AgentSendText("Sorry, that slot was just taken. Another time?")
            return
        self.booked = True
        yield LogMetric(name="booked_slot", value=f"{self.day} {time}")
        yield AgentSendText(
            f"You're booked for {self.day.title()} at {time}. "
            f"Your confirmation code is {booking.value}. Anything else?"
        )
        await ctx.call_tool(send_confirmation, code=booking.value)


app = AgentApp(get_agent=lambda ctx, request: BookingAgent(), name="appointment-booking")

if __name__ == "__main__":
    app.run()
