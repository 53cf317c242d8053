"""Dead by Daylight knowledge: grades from pips, adepts from the achievement schema, named stats."""
