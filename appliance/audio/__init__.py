"""What the box hears and says on a call's audio path: answering-machine, fax and modem detection (#24)."""
