# The two commands a newcomer needs. Both install what they need first (scripts/setup.sh).
.PHONY: setup serve test bench lint

setup:
	@bash scripts/setup.sh

serve: setup
	.venv/bin/songlens serve --demo

test: setup
	.venv/bin/python -m pytest -q

lint: setup
	.venv/bin/python -m pip install -q ruff && .venv/bin/ruff check songlens tests benchmarks

bench: setup
	.venv/bin/python benchmarks/ingest.py
