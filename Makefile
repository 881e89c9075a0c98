# Development entry points. `make demo` and `make test` work on a fresh machine with
# only Python 3 and pip: the first run creates .venv and installs everything.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv demo test lint clean

venv: $(STAMP)

# ROS 2 Python packages come from pip only when no ROS 2 distribution is sourced.
$(STAMP): requirements.txt requirements-ros.txt requirements-dev.txt setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	if [ -z "$$ROS_DISTRO" ]; then $(PY) -m pip install -q -r requirements-ros.txt; \
	else echo "ROS 2 $$ROS_DISTRO is sourced: using its rclpy and messages"; fi
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m mtvif_ros.tools.demo --out demo_out

test: $(STAMP)
	$(PY) -m pytest -q test

lint: $(STAMP)
	$(PY) -m ruff check mtvif_ros test launch setup.py

clean:
	rm -rf demo_out .pytest_cache .ruff_cache *.egg-info
