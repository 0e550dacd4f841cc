# Small utilities shared by every program: logging.
$(eval $(call static_lib,rtutil,lib/util/log.c))
