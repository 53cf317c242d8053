"""One request's orchestration: which Steam calls it makes, in what order, and the parts it streams back.

`fetcher.PlayerFetcher` is the face; `stream` reads one request top to bottom; `steam_calls` holds the shared,
cached per-player calls; `verdict` decides whose fault a failed stats call is; `parts` builds the two parts;
`store_guard` keeps the store beside the request without ever failing it.
"""
