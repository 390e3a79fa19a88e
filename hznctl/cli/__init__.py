"""The Click layer: parses options into typed values, calls one core function, shows results."""
