"""dbd-playerstats: Dead by Daylight stats of Steam players over gRPC."""
