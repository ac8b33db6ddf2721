"""The daemon: one asyncio process that runs the lines, the engine, the API and the hot folder."""
