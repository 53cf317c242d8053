"""Typed async client and CLI for the dbd-playerstats service."""
