"""Prompts (#24): the sounds the engine plays on lines with an audio path — listed, uploaded as
audio (WAV, MP3, FLAC, OGG) or written as text (espeak-ng), played back as the 8 kHz WAV the
lines get, deleted. The files live in the prompts directory (appliance/audio/prompts.py), where
they may also be dropped by hand."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp.http_exceptions
import pydantic
from aiohttp import web

from appliance.api.campaigns import services
from appliance.api.context import Services
from appliance.api.limits import MAX_JSON_BODY, parse_json
from appliance.api.models.prompts import Prompt, PromptText
from appliance.api.problems import Problem
from appliance.api.registry import API
from appliance.api.spec import Call, read_body
from appliance.audio.prompts import (
    MAX_BYTES,
    MAX_TEXT,
    PromptError,
    PromptInfo,
    Prompts,
    PromptStoreError,
    prompts_directory,
)
from appliance.store.campaigns import audit

# The media types of an audio body, and the file suffix each is read as (the format itself is
# found in the bytes: a WAV sent as audio/mpeg is still read as a WAV).
AUDIO_TYPES = {
    "audio/wav": ".wav",
    "audio/wave": ".wav",
    "audio/x-wav": ".wav",
    "audio/vnd.wave": ".wav",
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
    "audio/flac": ".flac",
    "audio/x-flac": ".flac",
    "audio/ogg": ".ogg",
    "application/ogg": ".ogg",
    "audio/opus": ".ogg",
    "application/octet-stream": "",
}
SEND = (
    "send the prompt as audio (Content-Type audio/wav, audio/mpeg, audio/flac, audio/ogg or "
    "application/octet-stream), as multipart/form-data with a part named 'file', or as JSON "
    '{"text": "..."} to be spoken'
)
TOO_LARGE = (
    f"a prompt file may be at most {MAX_BYTES} bytes ({MAX_BYTES >> 20} MiB): shorten it or "
    "compress it (MP3, OGG)"
)
MULTIPART_SLACK = 64 * 1024  # the parts' headers and boundaries around the file


def prompts_of(svc: Services) -> Prompts:
    """The daemon's prompts; without one, the config's directory (made once, kept)."""
    if svc.prompts is None:
        config = svc.config()
        svc.prompts = Prompts(prompts_directory(config), tts=config.prompts.tts)
    prompts: Prompts = svc.prompts
    return prompts


def _document(info: PromptInfo) -> dict[str, Any]:
    return info.as_dict()


@API.op("GET", "/prompts", summary="Every prompt: format, duration, size, text", tag="prompts",
        scope="crm", responses={200: ("the prompts, by name", list[Prompt])},
        description="Files dropped into the prompts directory are listed too, converted at the "
                    "first listing; one that cannot be played carries its `error`.")  # fmt: skip
async def list_prompts(call: Call) -> web.Response:
    prompts = prompts_of(services(call))
    infos = await asyncio.to_thread(prompts.list)
    return web.json_response([_document(i) for i in infos])


@API.op("GET", "/prompts/{name}", summary="One prompt", tag="prompts", scope="crm",
        responses={200: ("the prompt", Prompt)})  # fmt: skip
async def get_prompt(call: Call) -> web.Response:
    prompts = prompts_of(services(call))
    info = await asyncio.to_thread(prompts.info, call.path["name"])
    return web.json_response(_document(info))


@API.op("GET", "/prompts/{name}/audio", summary="The prompt as the lines play it (WAV, 8 kHz)",
        tag="prompts", scope="crm",
        responses={200: ("the converted sound: WAV, 8 kHz, 16-bit, mono", str, "audio/wav")},
        description="What a call hears, for a browser or the console to play. A prompt that "
                    "cannot be played is 422 saying why.")  # fmt: skip
async def prompt_audio(call: Call) -> web.Response:
    name = call.path["name"]
    prompts = prompts_of(services(call))
    try:
        wav = await asyncio.to_thread(prompts.wav, name)
    except PromptError as exc:
        raise Problem(422, str(exc)) from None
    return web.Response(
        body=wav,
        content_type="audio/wav",
        headers={"Content-Disposition": f'inline; filename="{name}.wav"'},
    )


@API.op("PUT", "/prompts/{name}", summary="Add or replace a prompt: audio, or text to speak",
        tag="prompts", scope="admin", max_body=MAX_BYTES + MULTIPART_SLACK,
        media={**{kind: {"type": "string", "format": "binary"}
                  for kind in ("audio/wav", "audio/mpeg", "audio/flac", "audio/ogg",
                               "application/octet-stream")},
               "multipart/form-data": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string",
                                                               "format": "binary"}}},
               "application/json": PromptText},
        responses={200: ("the prompt as stored, converted", Prompt)},
        description="Audio (WAV, MP3, FLAC, OGG; any rate and channels) is converted to 8 kHz "
                    f"mono once, here, and stored whole or not at all: at most {MAX_BYTES >> 20}"
                    " MiB and 10 minutes; a file that cannot be read, ends early or holds no "
                    "sound is 422 saying why. JSON `{\"text\": ...}` (or a `.txt` file) is "
                    "spoken by espeak-ng: 422 saying to install it when it is missing, or when "
                    "config prompts.tts is off. A prompt of the same name is replaced, whatever "
                    "its format. A disk that refuses the file is 507 (the old prompt is kept). Two conversions run at once and eight more wait; beyond that "
                    "503 with Retry-After.")  # fmt: skip
async def put_prompt(call: Call) -> web.Response:
    svc = services(call)
    name = call.path["name"]
    prompts = prompts_of(svc)
    filename, content = await _received(call.request)
    async with svc.conversions.slot():
        try:
            if isinstance(content, str):
                info = await asyncio.to_thread(prompts.add_text, name, content)
            else:
                info = await asyncio.to_thread(prompts.add, name, content, filename)
        except PromptStoreError as exc:
            raise Problem(507, str(exc)) from None
        except PromptError as exc:
            raise Problem(422, str(exc)) from None
    with svc.db.transaction():
        audit(svc.db, call.caller.actor, "prompt.put", name,
              {"file": info.file, "bytes": info.bytes, "duration": info.duration},
              svc.clock.now())  # fmt: skip
    return web.json_response(_document(info))


@API.op("DELETE", "/prompts/{name}", summary="Delete a prompt", tag="prompts", scope="admin",
        responses={204: ("deleted", None)},
        description="A campaign or flow that names it then finds it missing (the call goes on "
                    "without it, and the log says so).")  # fmt: skip
async def delete_prompt(call: Call) -> web.Response:
    svc = services(call)
    name = call.path["name"]
    await asyncio.to_thread(prompts_of(svc).remove, name)
    with svc.db.transaction():
        audit(svc.db, call.caller.actor, "prompt.delete", name, {}, svc.clock.now())
    return web.Response(status=204)


async def _received(request: web.Request) -> tuple[str, bytes | str]:
    """(the file's name, its bytes) of an audio or multipart body; ("", text) of a text one."""
    if not request.body_exists:
        raise Problem(400, f"the request has no body; {SEND}")
    kind = request.content_type
    if kind == "application/json":
        document = parse_json(await _body(request, MAX_JSON_BODY), max_bytes=MAX_JSON_BODY)
        try:
            return "", PromptText.model_validate(document).text
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in ("body", *first["loc"]))
            raise Problem(422, f"{where}: {first['msg']}; send {{\"text\": \"...\"}} with at most "
                          f"{MAX_TEXT} characters",
                          errors=[{"where": where, "message": first["msg"]}]) from None  # fmt: skip
    if kind == "text/plain":
        raw = await _body(request, MAX_TEXT * 4)
        try:
            return "", raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Problem(400, "the text is not UTF-8") from None
    if kind == "multipart/form-data":
        return await _multipart_file(request)
    if kind in AUDIO_TYPES:
        return f"upload{AUDIO_TYPES[kind]}", await _body(request, MAX_BYTES)
    raise Problem(415, f"{kind or 'a body without a Content-Type'} is not a prompt; {SEND}")


async def _body(request: web.Request, limit: int) -> bytes:
    try:
        return await read_body(request, limit)
    except Problem as exc:
        if exc.status == 413:
            raise Problem(413, TOO_LARGE if limit == MAX_BYTES else exc.detail) from None
        raise


async def _multipart_file(request: web.Request) -> tuple[str, bytes]:
    if request.content_length is not None and request.content_length > MAX_BYTES + MULTIPART_SLACK:
        raise Problem(413, TOO_LARGE)
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, aiohttp.BodyPartReader) or part.name != "file":
                continue
            data = bytearray()
            while chunk := await part.read_chunk(1 << 16):
                data += chunk
                if len(data) > MAX_BYTES:
                    raise Problem(413, TOO_LARGE)
            return Path(part.filename or "upload").name, bytes(data)
    except (ValueError, aiohttp.ClientError, aiohttp.http_exceptions.HttpProcessingError) as exc:
        raise Problem(400, f"the multipart body cannot be read: {exc}") from None
    raise Problem(422, f"the multipart body has no part named 'file'; {SEND}")
