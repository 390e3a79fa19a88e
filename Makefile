.PHONY: run test bench lint schemas clean demo

run:        ## install and run the main job on the example inventory
	scripts/run

test:       ## the whole test suite (installs what it needs)
	scripts/test

demo:       ## the whole loop on this machine: redis, supervisord, compile, deploy, jobs, health
	HZNCTL_EXTRAS=demo HZNCTL_SYSTEM_PACKAGES=redis-server scripts/bootstrap && .venv/bin/hznctl demo

bench:      ## benchmarks at full scale
	scripts/bootstrap && .venv/bin/python -m pytest benchmarks --benchmark-only -p no:cacheprovider

lint:
	scripts/bootstrap && .venv/bin/ruff check hznctl tests benchmarks && .venv/bin/mypy

clean:
	rm -rf build .venv .pytest_cache .mypy_cache .ruff_cache .benchmarks
