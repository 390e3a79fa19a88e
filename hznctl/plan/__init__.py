"""Plans: what a change restarts, between two compiles, and how it is shown."""
