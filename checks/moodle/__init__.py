"""Moodle, deeply: site access (config.php, database, CLI, web services) and the probes."""
