"""`emailbot replay`: what EmailBot would have done to an export of a mailbox, before anyone lets it act."""
