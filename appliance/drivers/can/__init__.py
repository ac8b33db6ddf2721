"""Line cards on a CAN backplane (docs/line-card-protocol.md)."""
