# Small utilities shared by every program: logging, --version, and the socket-server core under
# the control and NBD servers (lib/util/sockserver.h, internal to the libraries).
$(eval $(call static_lib,rtutil,lib/util/log.c lib/util/sockserver.c lib/util/version.c))

# The core's unit tests (tests/unit/lib/util/): failing syscalls are injected with --wrap.
$(eval $(call unit_test,test_sockserver,tests/unit/lib/util/test_sockserver.c,rtutil,\
	-Wl$(comma)--wrap=timerfd_settime -Wl$(comma)--wrap=epoll_ctl -Wl$(comma)--wrap=rt_log))
$(eval $(call unit_test,test_log,tests/unit/lib/util/test_log.c,rtutil))
