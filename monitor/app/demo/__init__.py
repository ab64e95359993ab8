"""`vigil demo`: a Moodle-like demo LMS with injected faults, and the daemon watching it."""
