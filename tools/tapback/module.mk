# tapback: the dom0 service running the xenbus handshake of every vbd3 device.
$(eval $(call static_lib,tapbackfsm,tools/tapback/xenbus_fsm.c))
$(eval $(call unit_test,test_xenbus_fsm,tests/unit/tools/tapback/test_xenbus_fsm.c,tapbackfsm))
$(eval $(call program,tapback,tools/tapback/tapback.c tools/tapback/device.c tools/tapback/xs.c \
	tools/tapback/polling.c,\
	tapbackfsm rtctl rtutil,$(LIBS_XENSTORE) $(LIBS_JANSSON)))
MAN_PAGES += man/tapback.8
BIN_PROGRAMS += $(BUILD)/bin/tapback # blktap installs /usr/bin/tapback
