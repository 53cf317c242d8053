"""What one replica keeps: shared in-flight fetches with TTL caches per endpoint, and the game-wide catalog."""
