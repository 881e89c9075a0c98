# Development entry points. `make demo` and `make test` work on a fresh machine with
# only Python 3 and pip: the first run creates .venv and installs everything.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Upstream ROS 2 Python packages (launch, launch_ros, message_filters, ros2cli) as wheels,
# where a ROS-less machine has them beside the checkout: the launch file and the
# message_filters path then run for real in the tests (they skip without them).
ROS_WHEELS ?= ../shared/ros_wheels/wheels

.PHONY: venv demo test lint clean

venv: $(STAMP)

# ROS 2 Python packages come from pip only when no ROS 2 distribution is sourced.
$(STAMP): requirements.txt requirements-tools.txt requirements-ros.txt requirements-dev.txt setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r requirements-tools.txt -r requirements-dev.txt
	if [ -z "$$ROS_DISTRO" ]; then $(PY) -m pip install -q -r requirements-ros.txt; \
	else echo "ROS 2 $$ROS_DISTRO is sourced: using its rclpy and messages"; fi
	if [ -z "$$ROS_DISTRO" ] && ls $(ROS_WHEELS)/*.whl >/dev/null 2>&1; then \
	  $(PY) -m pip install -q --no-deps $(ROS_WHEELS)/*.whl; fi
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
