"""The service's configuration: one typed settings value read from the environment once at start-up.

Each variable is declared once (`declare.var`), in `settings` (the groups), `tls` and `telemetry`; parsing, the
README's table (`python -m dbd_playerstats.config`) and the start-up error all come from that declaration.
"""

from dbd_playerstats.config.declare import ConfigError
from dbd_playerstats.config.secrets import Secret, SecretUrl
from dbd_playerstats.config.settings import DEFAULTS, Settings

__all__ = ["DEFAULTS", "ConfigError", "Secret", "SecretUrl", "Settings"]
