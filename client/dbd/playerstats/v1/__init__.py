"""Generated from protos/dbd/playerstats/v1 (scripts/gen_protos.py)."""
