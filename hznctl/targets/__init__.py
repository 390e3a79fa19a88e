"""Output formats for hosts: each target turns the compiled programs into its files."""
