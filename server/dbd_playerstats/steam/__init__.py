"""Steam Web API access, one module per job; import from the module, the package re-exports nothing.

`client` (`SteamClient`: HTTP, limits, the key), `parse` (pure parsers, one per endpoint, and the endpoint names),
`classify` (status, headers and body into the JSON document or the `SteamError` they mean), `fields` (lenient
readers of one JSON entry), `errors` (the `SteamError` tree the client raises), `models` (the frozen values it
returns). Nothing is re-exported here, so that importing `steam.models` (as the domain does) does not load the
HTTP client.
"""

__all__: list[str] = []
