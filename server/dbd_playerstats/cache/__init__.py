"""What one replica keeps: shared in-flight fetches with TTL caches per endpoint, the game-wide catalog, and the
values derived once per kept answer."""
