"""Emulated GSM/LTE module speaking 27.007/27.005 and a vendor dialect on a pseudo-terminal."""
