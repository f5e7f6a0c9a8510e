# deps.mk - Debian packages the build and the tests need, installed when
# missing. Idempotent: a machine that has them all pays one dpkg-query.

DEPS_BUILD := build-essential clang libclang-rt-14-dev pkg-config \
	libjansson-dev libssl-dev zlib1g-dev libbz2-dev liblzma-dev libzstd-dev liblz4-dev \
	libarchive-dev libyaml-dev libsqlite3-dev libpq-dev libmicrohttpd-dev libcurl4-openssl-dev libexpat1-dev
DEPS_TEST := python3 python3-jsonschema python3-onnx python3-numpy clang-format cppcheck zstd xz-utils bzip2 lz4 p7zip-full \
	python3-boto3 chromium postgresql systemd
# the S3 tests run s3rver (npm) on Node.js: Debian's when the machine has none
DEPS_NODE := $(if $(shell command -v node >/dev/null && command -v npm >/dev/null && echo yes),,nodejs npm)
DEPS_FIXTURES := python3-torch python3-numpy python3-joblib python3-sklearn python3-h5py python3-onnx

define install_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call install_missing,$(DEPS_BUILD) $(DEPS_TEST) $(DEPS_NODE))

deps-fixtures:
	$(call install_missing,$(DEPS_FIXTURES))

.PHONY: deps deps-fixtures
