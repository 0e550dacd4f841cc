# Adaptive polling: window controller, dom0 load guard, host-wide budget.
$(eval $(call static_lib,rtpoll,lib/poll/controller.c lib/poll/load_guard.c lib/poll/budget.c))
$(eval $(call unit_test,test_poll_controller,tests/unit/lib/poll/test_controller.c,rtpoll))
$(eval $(call unit_test,test_poll_guard,tests/unit/lib/poll/test_guard.c,rtpoll))
