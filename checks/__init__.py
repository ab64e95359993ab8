"""Check families: each module measures one aspect of an LMS and returns a Result."""
