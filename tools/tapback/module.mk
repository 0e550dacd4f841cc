# tapback: the dom0 service running the xenbus handshake of every vbd3 device.
$(eval $(call static_lib,tapbackfsm,tools/tapback/xenbus_fsm.c))
$(eval $(call unit_test,test_xenbus_fsm,tests/unit/tools/tapback/test_xenbus_fsm.c,tapbackfsm))
