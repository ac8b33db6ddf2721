"""GSM/LTE modems (3GPP 27.007/27.005): SMS coding, vendor profiles, call tracking, the driver."""
