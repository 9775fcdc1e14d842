"""Pure logic: no I/O, no asyncio, and "now" is always an argument."""
