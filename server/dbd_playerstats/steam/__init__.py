"""Steam Web API access, one module per job; import from the module, the package re-exports nothing.

`client` (`SteamClient`: HTTP, limits, the key), `parse` (pure parsers, one per endpoint, and the endpoint names),
`classify` (Steam's error answers into `SteamError` classes), `errors` (the `SteamError` tree the client raises),
`models` (the frozen values it returns). Nothing re-exported here, so that importing `steam.models` (as the domain
does) does not load the HTTP client.
"""

__all__: list[str] = []
