"""Development-only code of dbd-playerstats: the demo, an in-process OTLP receiver and the trace tree printer it
uses, and the helpers tests share (throw-away Redis prefixes and PostgreSQL schemas, in-memory telemetry).

Installed by `scripts/_venv.sh` for the demo, the tests and the benchmark; never by the Dockerfile, so none of it
ships in the runtime image.
"""
