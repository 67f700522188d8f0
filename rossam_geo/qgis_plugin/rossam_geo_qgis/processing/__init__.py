"""Processing provider of the ROS-SAM plugin."""
