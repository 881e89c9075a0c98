# Development entry points. `make demo` and `make test` work on a fresh machine with
# only Python 3 and pip: the first run creates .venv and installs everything, at the
# versions of requirements.lock (the ones the suite was last green with).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Exact versions (pip constraints) for every install; `make venv LOCK=` resolves the
# newest releases instead. The lock is CI's platform: CPython 3.11, Linux x86_64.
LOCK   ?= requirements.lock
CONSTRAIN := $(if $(LOCK),-c $(LOCK))
REQS   := -r requirements.txt -r requirements-tools.txt -r requirements-dev.txt
# Upstream ROS 2 Python packages (launch, launch_ros, message_filters, ros2cli) as wheels,
# where a ROS-less machine has them beside the checkout: the launch file and the
# message_filters path then run for real in the tests (they skip without them).
ROS_WHEELS ?= ../shared/ros_wheels/wheels
# Where the drift check (newest releases) and the floor check (oldest supported) build.
LATEST_VENV ?= .venv-latest
OLDEST_VENV ?= .venv-oldest

.PHONY: venv demo test lint clean test-latest test-oldest lock

venv: $(STAMP)

# ROS 2 Python packages come from pip only when no ROS 2 distribution is sourced.
$(STAMP): requirements.txt requirements-tools.txt requirements-ros.txt requirements-dev.txt \
		setup.py $(LOCK) $(EXTRA_CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip $(CONSTRAIN)
	$(PY) -m pip install -q $(REQS) $(CONSTRAIN) $(if $(EXTRA_CONSTRAINTS),-c $(EXTRA_CONSTRAINTS))
	if [ -z "$$ROS_DISTRO" ]; then $(PY) -m pip install -q -r requirements-ros.txt $(CONSTRAIN); \
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

# Drift check: a fresh venv of the newest releases the requirements admit (no lock),
# then the whole suite. Run it every session; when it is green, `make lock` records it.
test-latest:
	rm -rf $(LATEST_VENV)
	$(MAKE) test VENV=$(LATEST_VENV) LOCK=
	$(LATEST_VENV)/bin/python -m pip list --format=freeze | grep -iE '^(numpy|opencv|torch|rclpy)'

# Floor check: the oldest versions requirements*.txt admit (every `>=` floor X.Y taken as
# `==X.Y.*`, its newest patch; ROS Humble users get OpenCV 4.x and NumPy 1.x), then the
# whole suite.
test-oldest:
	rm -rf $(OLDEST_VENV)
	mkdir -p $(OLDEST_VENV)
	sed -n 's/^\([A-Za-z0-9_.-]*\)>=\([0-9.]*\).*/\1==\2.*/p' requirements*.txt \
	  > $(OLDEST_VENV)/floors.txt
	$(MAKE) test VENV=$(OLDEST_VENV) LOCK= EXTRA_CONSTRAINTS=$(OLDEST_VENV)/floors.txt
	$(OLDEST_VENV)/bin/python -m pip list --format=freeze | grep -iE '^(numpy|opencv|torch)'

# Refresh requirements.lock from the drift check's venv (run `make test-latest` first and
# commit the lock only if it passed). Wheels installed from local files are left out.
lock:
	test -x $(LATEST_VENV)/bin/python || { echo "run make test-latest first"; exit 1; }
	{ echo "# Exact versions the suite is green with: pip constraints used by make venv/test/demo"; \
	  echo "# and CI (CPython 3.11, Linux x86_64). Refresh: make test-latest && make lock."; \
	  $(LATEST_VENV)/bin/python -m pip freeze --all --exclude-editable \
	    | grep -v ' @ ' | sed 's/^\(torch==[0-9.]*\)+cpu$$/\1/'; } > $(LOCK)

clean:
	rm -rf demo_out .pytest_cache .ruff_cache *.egg-info
