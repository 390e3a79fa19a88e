.PHONY: run test bench lint schemas clean

run:        ## install and run the main job on the example inventory
	scripts/run

test:       ## the whole test suite (installs what it needs)
	scripts/test

bench:      ## benchmarks at full scale
	scripts/bootstrap && .venv/bin/python -m pytest benchmarks --benchmark-only -p no:cacheprovider

lint:
	scripts/bootstrap && .venv/bin/ruff check hznctl tests benchmarks && .venv/bin/mypy

clean:
	rm -rf build .venv .pytest_cache .mypy_cache .ruff_cache .benchmarks
