# Small utilities shared by every program: logging, and the socket-server core under the
# control and NBD servers (lib/util/sockserver.h, internal to the libraries).
$(eval $(call static_lib,rtutil,lib/util/log.c lib/util/sockserver.c))
