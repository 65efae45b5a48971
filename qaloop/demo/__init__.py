"""The demo and the tests' world: a synthetic authority from a seed, how its staff return their work, and a
local SMTP sink that keeps every message as a file."""
