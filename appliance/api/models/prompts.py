"""The prompts' bodies (#24): a prompt as listed, and a prompt written as text."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from appliance.api.models import Body, Document
from appliance.audio.prompts import MAX_TEXT


class Prompt(Document):
    """a prompt: its source file and the sound it plays (8 kHz, 16-bit, mono)"""

    name: str
    format: Literal["wav", "mp3", "flac", "ogg", "text"] = Field(
        description="the source's format; text: spoken by espeak-ng"
    )
    file: str = Field(description="the source's file name in the prompts directory")
    bytes: int = Field(description="of the source file")
    duration: float | None = Field(
        description="seconds of sound once converted; null when it cannot be played"
    )
    text: str | None = Field(description="a text prompt's words; null for audio")
    error: str | None = Field(
        description="why it cannot be played and what to do (a file dropped into the "
        "directory that is not sound, text while espeak-ng is missing); null: it plays"
    )


class PromptText(Body):
    """a prompt written as text, spoken by espeak-ng (config prompts.tts)"""

    text: str = Field(min_length=1, max_length=MAX_TEXT)
