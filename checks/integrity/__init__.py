"""File integrity of an LMS: the code tree against its baseline and release, and executable
scripts dropped into the data directory.

scan.py walks a tree (never following symlinks), hashing.py reads files within a budget
(parallel.py forks workers for the CLI), store.py keeps baselines in the state DB,
baseline.py runs and compares (diff.py: the pure comparisons), accept.py takes changes
into a baseline, manifest.py (with gitindex.py) builds the expected files of a release,
patterns.py holds ignore rules and what counts as a script; codetree.py and
datascripts.py (with webshells.py) are the two checks, cli.py is `vigil integrity`.
"""
